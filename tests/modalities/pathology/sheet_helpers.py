"""The first tissue tile of a cohort, as its adapter reads it (a query image for search tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedforge.registry.datasets import open_dataset


def first_tile(root: Path) -> tuple[np.ndarray, str]:
    ds = open_dataset(f"slides:{root}")
    item = next(it for it in ds.items() if "error" not in it.labels)
    return np.asarray(ds.load(item).image), item.id
