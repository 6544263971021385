"""CSFM's signal encoder in plain torch, with the reference code's parameter names.

Mirrors ``network/model.py`` of github.com/guxiao0822/Cardiac-Sensing-FM (class ``CSFM``):
per-channel patches (LayerNorm -> Linear -> LayerNorm), learned channel-type and patch-position
embeddings, a CLS token, pre-norm attention (bias-free ``to_qkv``) and feed-forward blocks, a final
LayerNorm, and the CLS output as the embedding. The text branch and task heads are left out; their
checkpoint keys are ignored. Imported only inside factories (it imports torch at module top).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CSFMConfig:
    """Architecture hyper-parameters; defaults are CSFM-Base (``CSFM_model('Base')``)."""

    dim: int = 768
    depth: int = 12
    heads: int = 12
    dim_head: int = 64
    mlp_dim: int = 3072
    channels: int = 13
    patch_size: int = 25
    signal_size: int = 2500

    @property
    def num_patches(self) -> int:
        return self.signal_size // self.patch_size

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


VARIANTS = {
    "tiny": CSFMConfig(dim=768, depth=6, heads=8, mlp_dim=1024),
    "base": CSFMConfig(),
    "large": CSFMConfig(dim=1024, depth=16, heads=24, mlp_dim=4096),
}


class Attention(nn.Module):
    """Pre-norm multi-head self-attention; masked keys get no weight."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        project = not (heads == 1 and dim_head == dim)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0)) if project else nn.Identity()

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """Pre-norm MLP block (LayerNorm, Linear, GELU, Linear)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(hidden, dim),
            nn.Dropout(0.0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    """Residual attention + MLP layers and a closing LayerNorm."""

    def __init__(self, cfg: CSFMConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(cfg.dim, cfg.heads, cfg.dim_head), FeedForward(cfg.dim, cfg.mlp_dim)])
            for _ in range(cfg.depth)
        )

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        if key_mask is not None and bool(key_mask.all()):
            key_mask = None  # nothing masked: the fused (flash / memory-efficient) kernels take no mask
        for attn, ff in cast("list[tuple[nn.Module, nn.Module]]", self.layers):  # (Attention, FeedForward) pairs
            x = attn(x, key_mask) + x
            x = ff(x) + x
        return self.norm(x)


class CSFMSignalEncoder(nn.Module):
    """ECG/PPG patches of the present channels -> transformer -> CLS vector."""

    def __init__(self, cfg: CSFMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, d = cfg.patch_size, cfg.dim
        self.ts_to_patch_embedding = nn.Sequential(
            nn.Unflatten(-1, (cfg.num_patches, p)), nn.LayerNorm(p), nn.Linear(p, d), nn.LayerNorm(d)
        )
        self.cls_token = nn.Parameter(torch.randn(1, 1, d))
        self.ts_channel_type_embedding = nn.Parameter(torch.randn(1, cfg.channels, d))
        self.ts_pos_embedding = nn.Parameter(torch.randn(1, cfg.num_patches, d))
        self.transformer = Transformer(cfg)

    def forward(self, x: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """x (B, channels, signal_size); token_mask (B, channels, num_patches) bool -> (B, dim)."""
        tokens = self.ts_to_patch_embedding(x)  # B C N D
        tokens = tokens + self.ts_channel_type_embedding[:, :, None, :] + self.ts_pos_embedding[:, None]
        tokens, keep = _keep_tokens(tokens.flatten(1, 2), token_mask.flatten(1))
        cls = self.cls_token.expand(x.shape[0], 1, -1)
        keep = torch.cat([torch.ones_like(keep[:, :1]), keep], dim=1)
        return self.transformer(torch.cat([cls, tokens], dim=1), keep)[:, 0]

    def embed(self, x: torch.Tensor, token_mask: torch.Tensor, bf16: bool = False, chunk: int = 64) -> torch.Tensor:
        """Inference in micro-batches (bounded activation memory), optionally under bf16 autocast; float32 out."""
        device = x.device.type
        out = []
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(x), chunk):
                out.append(self(x[start : start + chunk], token_mask[start : start + chunk]).float())
        return torch.cat(out) if out else x.new_zeros((0, self.cfg.dim))


def _keep_tokens(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather each sample's unmasked tokens to the front, padded to the batch's longest; return keep-mask."""
    counts = mask.sum(dim=1)
    width = int(counts.max())
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :width]
    gathered = torch.gather(tokens, 1, order[..., None].expand(-1, -1, tokens.shape[-1]))
    keep = torch.arange(width, device=mask.device)[None, :] < counts[:, None]
    return gathered.masked_fill(~keep[..., None], 0.0), keep
