"""Small offline video inputs (``Modality.examples``): moving-shape clips, an ``.mp4`` query, and datasets in the
UCF101, HMDB51 and class-folder layouts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from embedforge.modalities.video.decode import Video
from embedforge.modalities.video.synth import CLASSES, action_frames, ucf_layout, write_video

FRAMES, SIZE = 12, 64


def clip(path: str | Path, seed: int) -> Path:
    """One 12-frame 64 x 64 clip of a moving-shape class (the seed picks class, colours and motion)."""
    rng = np.random.default_rng(seed)
    return write_video(path, action_frames(CLASSES[seed % len(CLASSES)], rng, FRAMES, SIZE))


def sample(seed: int) -> Video:
    """One clip held in memory (container bytes), as a served model gets it."""
    with tempfile.TemporaryDirectory() as tmp:
        return Video(clip(Path(tmp) / "clip.mp4", seed).read_bytes())


def query_file(folder: str, seed: int) -> str:
    """The same clip as an ``.mp4`` file."""
    return str(clip(Path(folder) / f"query{seed}.mp4", seed))


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """UCF101 (3 classes x 2 groups, with split lists), HMDB51 (2 classes, split files) and class folders."""
    root = Path(folder)
    ucf_layout(root / "ucf101", per_class=2, test_groups=1, n=FRAMES, size=SIZE)
    hmdb, lists = root / "hmdb51" / "hmdb51_org", root / "hmdb51" / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True, exist_ok=True)
    for c, cls in enumerate(CLASSES[:2]):
        names = [f"person{k}_{cls}_u_cm_np1_fr_med_{k}.avi" for k in range(3)]
        for k, name in enumerate(names):
            clip(hmdb / cls / name, 30 + 3 * c + k)
        codes = ("1", "1", "2")
        (lists / f"{cls}_test_split1.txt").write_text("".join(f"{n} {code}\n" for n, code in zip(names, codes)))
    for c, cls in enumerate(CLASSES[:2]):
        for k in range(3):
            clip(root / "folder" / cls / f"{cls.lower()}{k}.mp4", 50 + 3 * c + k)
    return {
        "ucf101": f"ucf101:{root / 'ucf101'}",
        "hmdb51": f"hmdb51:{root / 'hmdb51'}",
        "videofolder": f"videofolder:{root / 'folder'}",
    }
