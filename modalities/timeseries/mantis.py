"""``timeseries/mantis``: Mantis-8M (mantis-tsfm), a contrastively pre-trained ViT for classification.

Mantis takes exactly 512 steps, so every channel is gap-filled and linearly resized to 512
(``F.interpolate(mode="linear")``, as Mantis' own examples do). Each channel gives the model's
CLS-token embedding (256-d); channels are concatenated, as the Mantis paper does for multivariate data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, ItemError, Series
from embedforge.modalities.timeseries.forecast import hub_file
from embedforge.modalities.timeseries.series import as_channels, fill_nan, resample
from embedforge.modalities.timeseries.specs import MANTIS

MAX_ROWS = 256


def load_mantis(weights: str, device: str = "cpu"):
    """MantisV1.from_pretrained on a directory or hub id, refusing a file that leaves layers random."""
    from mantis.architecture import MantisV1
    from safetensors import safe_open

    weights_file = hub_file(weights, "model.safetensors")
    hub_file(weights, "config.json")
    model = MantisV1(device=device).from_pretrained(weights).eval()
    with safe_open(weights_file, framework="pt") as f:
        stored = {k.replace("vit_unit.", "transf_unit.") for k in f.keys()}  # noqa: SIM118  (safe_open is not iterable)
    missing = sorted(set(model.state_dict()) - stored)
    if missing:
        raise ValueError(f"{weights}: not a Mantis checkpoint (missing {', '.join(missing[:4])})")
    return model


class MantisEncoder(Encoder):
    """Channels resized to 512 steps, embedded independently, concatenated."""

    def __init__(self, weights: str | None = None, device: str = "cpu", channels: int = 1) -> None:
        from dataclasses import replace

        source = weights or MANTIS.weights
        self.model = load_mantis(source, device)
        self.weights_source = source
        self.seq_len, self.channels = self.model.seq_len, channels
        width = self.model.transf_unit.cls_token.shape[0] * (2 if self.model.output_token == "combined" else 1)
        self.spec = replace(
            MANTIS, dim=width * channels, input={**MANTIS.input, "seq_len": self.seq_len, "channels": channels}
        )

    @property
    def dim(self) -> int:
        return self.spec.dim

    def preprocess(self, sample: Series, item_id: str) -> np.ndarray:
        x = as_channels(sample, item_id)
        if x.shape[0] != self.channels:
            raise ItemError(
                f"{item_id}: {x.shape[0]} channel(s), but this encoder was built for "
                f"{self.channels}; build it with channels={x.shape[0]}"
            )
        return resample(fill_nan(x), self.seq_len, align_corners=False)

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        import torch

        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        rows = np.concatenate(inputs)  # (n * channels, seq_len)
        dev = next(self.model.parameters()).device
        out = []
        with torch.inference_mode():
            for start in range(0, len(rows), MAX_ROWS):
                chunk = torch.from_numpy(np.ascontiguousarray(rows[start : start + MAX_ROWS, None, :]))
                out.append(self.model(chunk.to(dev)).float().cpu().numpy())
        return np.concatenate(out).reshape(len(inputs), -1).astype(np.float32)


def build(weights: str | None = None, device: str = "cpu", **options: Any) -> MantisEncoder:
    return MantisEncoder(weights=weights, device=device, **options)
