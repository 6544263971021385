"""``cardiac/csfm-base``: the Cardiac Sensing Foundation Model's signal encoder, from a local checkpoint.

CSFM (Gu et al. 2025, github.com/guxiao0822/Cardiac-Sensing-FM) weights are gated behind an
academic access agreement, so they are never downloaded: pass the ``.pth`` file (or a directory
holding one) as ``weights``, or set ``EMBEDFORGE_CSFM_WEIGHTS``. The checkpoint format is the
reference one: a flat state dict whose encoder keys start with ``encoder.`` (text branch, dense
and classification heads are ignored). The architecture is read off the tensor shapes, so Tiny,
Base and Large checkpoints all load; the embedding is the 768-d (Large: 1024-d) CLS output.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, EncoderSpec
from embedforge.modalities.cardiac import signal
from embedforge.registry.encoders import register_encoder
from embedforge.registry.settings import Settings

WEIGHTS_ENV = "EMBEDFORGE_CSFM_WEIGHTS"
DIM_HEAD = 64  # fixed in every CSFM variant; shapes only reveal heads * dim_head
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
INPUT = {
    "sample_rate": signal.TARGET_RATE,
    "window_samples": signal.WINDOW,
    "patch_size": 25,
    "channels": list(signal.LEADS),
    "single_lead": "II",
    "resample": "scipy.signal.resample_poly",
    "clean": "neurokit2 ecg_clean / ppg_clean (default methods)",
    "normalise": "per-channel z-score",
    "crop": "first 10 s; shorter signals zero-padded, padding and missing channels masked",
    **signal.input_limits(),
}
SPEC = EncoderSpec(
    name="cardiac/csfm-base",
    dim=768,
    input=INPUT,
    weights="gated: local CSFM-Base checkpoint (.pth)",
    description="CSFM-Base transformer (12 x 768, 12 heads) over 13 ECG/PPG channels, 10 s at 250 Hz; CLS embedding",
    license="CSFM academic access agreement (weights); code MIT-compatible reimplementation",
    reference="guxiao0822/Cardiac-Sensing-FM network/model.py CSFM, README feature extraction (golden file)",
)


def probe() -> str | None:
    """None if a CSFM checkpoint is configured and present, else why not."""
    configured = Settings().csfm_weights
    if not configured:
        return (
            f"CSFM weights are gated (academic access agreement); pass a local checkpoint "
            f"path as weights or set {WEIGHTS_ENV}"
        )
    try:
        find_checkpoint(configured)
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    return None


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file: ``path`` itself, or the single checkpoint inside a directory."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.is_dir():
        raise FileNotFoundError(f"no CSFM checkpoint at {p}")
    found = sorted(f for f in p.iterdir() if f.suffix in CHECKPOINT_SUFFIXES)
    if len(found) != 1:
        raise ValueError(f"expected one CSFM checkpoint ({'/'.join(CHECKPOINT_SUFFIXES)}) in {p}, found {len(found)}")
    return found[0]


def encoder_state(raw: dict[str, Any]) -> dict[str, Any]:
    """The signal-encoder tensors of a CSFM checkpoint, with ``encoder.``/``module.`` prefixes removed."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(raw.get(key), dict):
            raw = raw[key]
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    if any(k.startswith("encoder.") for k in state):
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    return state


def config_from_state(state: dict[str, Any]):
    """Recover the architecture (width, depth, heads, MLP size, channels, patch) from tensor shapes."""
    from embedforge.modalities.cardiac.network import CSFMConfig

    try:
        _, channels, dim = state["ts_channel_type_embedding"].shape
        _, num_patches, _ = state["ts_pos_embedding"].shape
        patch = state["ts_to_patch_embedding.2.weight"].shape[1]
        inner = state["transformer.layers.0.0.to_qkv.weight"].shape[0] // 3
        mlp = state["transformer.layers.0.1.net.1.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not a CSFM checkpoint: missing tensor {exc}") from None
    depth = len({k.split(".")[2] for k in state if k.startswith("transformer.layers.")})
    heads = max(1, inner // DIM_HEAD)
    return CSFMConfig(
        dim=dim,
        depth=depth,
        heads=heads,
        dim_head=inner // heads,
        mlp_dim=mlp,
        channels=channels,
        patch_size=patch,
        signal_size=num_patches * patch,
    )


def load_model(path: str | Path, device: str = "cpu"):
    """Build the encoder from a CSFM checkpoint file; every encoder tensor must be present."""
    import torch

    from embedforge.modalities.cardiac.network import CSFMSignalEncoder

    raw = torch.load(find_checkpoint(path), map_location="cpu", weights_only=True)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(raw).__name__}")
    state = encoder_state(raw)
    model = CSFMSignalEncoder(config_from_state(state))
    wanted = model.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ValueError(f"{path}: CSFM checkpoint lacks {len(missing)} encoder tensors, e.g. {missing[:3]}")
    model.load_state_dict({k: state[k] for k in wanted}, strict=True)
    return model.to(device).eval()


class CSFMEncoder(Encoder):
    """Frozen CSFM: preprocess to 13 x 2500, encode the present channels' patches, return the CLS vector."""

    def __init__(self, model, weights_source: str, device: str = "cpu", precision: str = "fp32") -> None:
        cfg = model.cfg
        if (cfg.signal_size, cfg.channels) != (signal.WINDOW, len(signal.LEADS)):
            raise ValueError(
                f"CSFM checkpoint expects {cfg.channels} x {cfg.signal_size} input; "
                f"the preprocessing makes {len(signal.LEADS)} x {signal.WINDOW}"
            )
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"CSFM precision must be fp32 or bf16, got {precision!r}")
        self.model, self.device, self.weights_source = model, device, weights_source
        self.bf16 = precision == "bf16"  # autocast: a recipe option, so its vectors get their own table
        self.spec = dataclasses.replace(SPEC, dim=cfg.dim, input={**INPUT, "patch_size": cfg.patch_size})

    def preprocess(self, sample: Any, item_id: str) -> signal.CardiacInput:
        return signal.prepare(sample, item_id)

    def encode(self, inputs: list[signal.CardiacInput]) -> np.ndarray:
        import torch

        if not inputs:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        patch = self.model.cfg.patch_size
        x = torch.from_numpy(np.stack([i.x for i in inputs])).to(self.device)
        mask = torch.from_numpy(np.stack([i.token_mask(patch) for i in inputs])).to(self.device)
        return self.model.embed(x, mask, bf16=self.bf16).cpu().numpy()


@register_encoder(SPEC, probe=probe)
def csfm_base(weights: str | None = None, device: str = "cpu", precision: str = "fp32") -> CSFMEncoder:
    """Load CSFM from ``weights`` (a local .pth or a directory with one) or ``$EMBEDFORGE_CSFM_WEIGHTS``."""
    source = weights or Settings().csfm_weights
    if not source:
        raise FileNotFoundError(probe() or "no CSFM checkpoint given")
    path = find_checkpoint(source)
    return CSFMEncoder(load_model(path, device), str(path.resolve()), device, precision)
