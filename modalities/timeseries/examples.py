"""Small offline time-series inputs (``Modality.examples``): noisy sines, a ``.npy`` query, a UCR-layout folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedforge.modalities.base import Series

LENGTH = 96


def _values(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 4.0 * np.pi, LENGTH)
    return (np.sin((1 + seed % 3) * t + rng.uniform(0, np.pi)) + 0.1 * rng.standard_normal(LENGTH)).astype(np.float32)


def sample(seed: int) -> Series:
    """One univariate series of 96 steps (1 x 96)."""
    return Series(_values(seed)[None, :])


def query_file(folder: str, seed: int) -> str:
    """The same series as a ``.npy`` file (channels x time)."""
    path = Path(folder) / f"query{seed}.npy"
    np.save(path, sample(seed).values)
    return str(path)


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """``Example/Example_TRAIN.tsv`` and ``_TEST.tsv`` in the UCR archive's layout: 2 classes, 8 + 4 series."""
    root = Path(folder) / "Example"
    root.mkdir(parents=True, exist_ok=True)
    for split, seeds in (("TRAIN", range(8)), ("TEST", range(8, 12))):
        rows = [f"{s % 2 + 1}\t" + "\t".join(f"{v:.6f}" for v in _values(3 * s + s % 2)) for s in seeds]
        (root / f"Example_{split}.tsv").write_text("\n".join(rows) + "\n")
    return {"ucr": f"ucr:{root}"}
