"""``timeseries/moment-small``: MOMENT-1 loaded by our own code (momentfm pins clash with ours).

The module layout mirrors momentfm's ``MOMENT`` so its ``model.safetensors`` loads key for key:
``normalizer`` (RevIN, affine only if the file has it), ``patch_embedding.{value_embedding,
mask_embedding, position_embedding.pe}``, ``encoder`` (a transformers ``T5Stack`` built from the
``t5_config`` inside ``config.json``) and ``head.linear`` (the reconstruction head, unused here).
Input is 512 steps in 8-step patches: shorter series are left-padded and masked (as momentfm's
tutorials do), longer ones are linearly resampled to 512.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from embedforge.modalities.timeseries.forecast import HiddenStateEncoder, hub_file
from embedforge.modalities.timeseries.series import fill_nan, resample
from embedforge.modalities.timeseries.specs import MOMENT_SMALL

OPTIONAL_KEYS = ("patch_embedding.position_embedding.pe", "encoder.embed_tokens.weight", "head.")


class RevIN(nn.Module):
    """momentfm's RevIN in ``norm`` mode: mean/std over observed steps only (population std + eps)."""

    def __init__(self, affine: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        if affine:
            self.affine_weight = nn.Parameter(torch.ones(1, 1, 1))
            self.affine_bias = nn.Parameter(torch.zeros(1, 1, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = torch.where(mask[:, None, :].bool(), x, torch.nan)
        mean = torch.nanmean(masked, dim=-1, keepdim=True)
        std = (masked - mean).square().nanmean(dim=-1, keepdim=True).sqrt() + self.eps
        x = (x - mean) / std
        if hasattr(self, "affine_weight"):
            x = x * self.affine_weight + self.affine_bias
        return x


class PositionalEmbedding(nn.Module):
    """Fixed sinusoidal table, stored as a buffer ``pe`` like momentfm's."""

    def __init__(self, d_model: int, max_len: int = 5000) -> None:
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).float().unsqueeze(1)
        div = (torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model)).exp()
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe.unsqueeze(0))


class PatchEmbedding(nn.Module):
    def __init__(self, d_model: int, patch_len: int, bias: bool, positional: bool) -> None:
        super().__init__()
        self.value_embedding = nn.Linear(patch_len, d_model, bias=bias)
        self.mask_embedding = nn.Parameter(torch.zeros(d_model))
        if positional:
            self.position_embedding = PositionalEmbedding(d_model)

    def forward(self, patches: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """patches (n, tokens, patch_len), patch_mask (n, tokens) -> (n, tokens, d_model)."""
        m = patch_mask[..., None].to(patches.dtype)
        x = m * self.value_embedding(patches) + (1 - m) * self.mask_embedding
        if hasattr(self, "position_embedding"):
            x = x + cast(torch.Tensor, self.position_embedding.pe)[:, : x.shape[1]]
        return x


class PretrainHead(nn.Module):
    def __init__(self, d_model: int, patch_len: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_model, patch_len)


class MomentModel(nn.Module):
    """The parts of momentfm's MOMENT that embedding needs, under momentfm's names."""

    def __init__(self, config: dict[str, Any], revin_affine: bool = False) -> None:
        from transformers import T5Config
        from transformers.models.t5.modeling_t5 import T5Stack

        super().__init__()
        t5 = T5Config.from_dict(copy.deepcopy(config["t5_config"]))
        t5.is_decoder, t5.use_cache, t5.is_encoder_decoder = False, False, False
        self.seq_len, self.patch_len = int(config.get("seq_len", 512)), int(config.get("patch_len", 8))
        if int(config.get("patch_stride_len", self.patch_len)) != self.patch_len:
            raise ValueError("only non-overlapping patches (patch_stride_len == patch_len) are supported")
        self.d_model = int(config.get("d_model") or t5.d_model)
        self.normalizer = RevIN(affine=revin_affine)
        self.patch_embedding = PatchEmbedding(
            self.d_model,
            self.patch_len,
            bool(config.get("value_embedding_bias", False)),
            bool(config.get("add_positional_embedding", True)),
        )
        self.encoder = T5Stack(t5)
        self.head = PretrainHead(self.d_model, self.patch_len)

    def hidden_states(self, x: torch.Tensor, mask: torch.Tensor, stacked: bool = True) -> Any:
        """x, mask (n, seq_len) -> (n, tokens, layers, d_model), every encoder layer's output (a list if unstacked)."""
        x = torch.nan_to_num(self.normalizer(x[:, None, :], mask)[:, 0], nan=0.0, posinf=0.0, neginf=0.0)
        patches = x.unfold(-1, self.patch_len, self.patch_len)
        patch_mask = (mask.unfold(-1, self.patch_len, self.patch_len).sum(-1) == self.patch_len).long()
        embeds = self.patch_embedding(patches, patch_mask)
        out = self.encoder(inputs_embeds=embeds, attention_mask=patch_mask, output_hidden_states=True)
        layers = list(out.hidden_states[1:])
        return torch.stack(layers, dim=2) if stacked else layers


def load_moment(weights: str, device: str = "cpu") -> MomentModel:
    """config.json (with ``t5_config``) + model.safetensors from a directory or a hub repository."""
    from safetensors.torch import load_file

    config = json.loads(Path(hub_file(weights, "config.json")).read_text())
    if "t5_config" not in config:
        raise ValueError(f"{weights}: config.json has no t5_config; not a MOMENT checkpoint")
    state = load_file(hub_file(weights, "model.safetensors"))
    model = MomentModel(config, revin_affine="normalizer.affine_weight" in state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(OPTIONAL_KEYS)]
    if missing or unexpected:
        raise ValueError(f"{weights}: not a MOMENT checkpoint (missing {missing[:4]}, unexpected {unexpected[:4]})")
    return model.to(device).eval()


class MomentEncoder(HiddenStateEncoder):
    """MOMENT's T5 encoder; tokens of left padding are masked and never pooled."""

    def __init__(self, weights: str | None = None, device: str = "cpu", **recipe: Any) -> None:
        source = weights or MOMENT_SMALL.weights
        self.model = load_moment(source, device)
        self.weights_source = source
        self.patch, self.seq_len = self.model.patch_len, self.model.seq_len
        self.n_layers, self.d_model = len(self.model.encoder.block), self.model.d_model
        super().__init__(MOMENT_SMALL, **recipe)
        self.spec = replace(self.spec, input={**self.spec.input, "seq_len": self.seq_len})

    def _n_tokens(self, length: int) -> int:
        return min(math.ceil(length / self.patch), self.seq_len // self.patch)

    def _group_key(self, length: int) -> int:
        """Every row becomes one seq_len grid (left-padded and masked, or resampled): any lengths share a pass."""
        return 0

    def _forward_tokens(self, length: int) -> int:
        return self.seq_len // self.patch

    def _grid(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One series on the seq_len grid and its observed mask: left-padded if short, resampled if long."""
        if len(row) > self.seq_len:
            return resample(fill_nan(row[None]), self.seq_len, align_corners=False)[0], np.ones(self.seq_len)
        pad = self.seq_len - len(row)
        mask = np.concatenate([np.zeros(pad), (~np.isnan(row)).astype(np.float64)])
        return np.concatenate([np.zeros(pad, np.float32), row]), mask

    def _forward(self, series: list[np.ndarray]) -> Any:
        """Per-layer hidden states (n, tokens, d_model) on the model's device; no (n, tokens, layers, d) copy."""
        grids = [self._grid(row) for row in series]
        dev = self._device()
        x = torch.from_numpy(np.stack([g for g, _ in grids]).astype(np.float32)).to(dev)
        mask = torch.from_numpy(np.stack([m for _, m in grids]).astype(np.float32)).to(dev)
        return self.model.hidden_states(x, mask, stacked=False)
