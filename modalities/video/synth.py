"""Synthetic videos written with PyAV: moving-shape action classes in the UCF101 layout, for tests and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("RollingBall", "SlidingBox", "WavingStripes")


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 25,
    codec: str = "mpeg4",
    rotation: int | None = None,
    audio: bool = False,
) -> Path:
    """Encode (n, H, W, 3) uint8 frames to a file; optional display rotation and a silent audio track."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _n, h, w, _ = frames.shape
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        if rotation:
            stream.set_display_rotation(rotation)
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio_only(path: str | Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """An .mp4 holding only an AAC track: a video reader must refuse it clearly."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream("aac", rate=rate, layout="mono")
        samples = np.zeros((1, int(seconds * rate)), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def index_frames(n: int, size: int = 64) -> np.ndarray:
    """Flat grey frames whose level encodes the frame number (8 * i), to check which frames were decoded."""
    levels = (np.arange(n) * 8 % 256).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (n, size, size, 3)).copy()


def action_frames(kind: str, rng: np.random.Generator, n: int = 24, size: int = 64) -> np.ndarray:
    """One clip of a moving-shape class; position, colour, speed and background noise vary per clip."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg = rng.uniform(20, 80, 3)
    colour = rng.uniform(150, 255, 3)
    x0, y0 = rng.uniform(0.25, 0.75, 2) * size
    speed = rng.uniform(0.5, 1.5)
    out = np.empty((n, size, size, 3), np.uint8)
    for t in range(n):
        if kind == "RollingBall":
            cx, cy = (x0 + speed * t) % size, y0
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (size / 7) ** 2
        elif kind == "SlidingBox":
            cx, cy = x0, (y0 + speed * t) % size
            mask = (np.abs(xx - cx) < size / 6) & (np.abs(yy - cy) < size / 6)
        else:
            mask = np.sin((xx + yy) / 3.0 + speed * t) > 0.3
        img = np.where(mask[..., None], colour, bg) + rng.normal(0, 6, (size, size, 3))
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def ucf_layout(root: str | Path, per_class: int = 6, test_groups: int = 2, n: int = 24, size: int = 64, seed: int = 0):
    """``root/UCF-101/<Class>/v_<Class>_gNN_c01.avi`` plus ``root/ucfTrainTestlist`` (split 1: low groups test)."""
    root, rng = Path(root), np.random.default_rng(seed)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    train: list[str] = []
    test: list[str] = []
    for kind in CLASSES:
        for g in range(1, per_class + 1):
            rel = f"{kind}/v_{kind}_g{g:02d}_c01.avi"
            write_video(root / "UCF-101" / rel, action_frames(kind, rng, n, size))
            (test if g <= test_groups else train).append(rel)
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(CLASSES, 1)))
    index = {c: i for i, c in enumerate(CLASSES, 1)}
    (lists / "trainlist01.txt").write_text("".join(f"{r} {index[r.split('/')[0]]}\n" for r in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    return root
