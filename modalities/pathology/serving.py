"""The served slide classifier's input format: a bag of tile vectors in (``{"tiles": [[...], ...]}``), class
probabilities and per-tile attention out. The pyfunc class that serves it (a row is a bag, not one vector) is
``embedforge.tasks.train_slides.SlideModel``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from embedforge.modalities.base import BadRequest

TILES = "tiles"
SLIDE = "slide"  # or the slide itself: a file:// path under the allowed roots, or the file base64-encoded
MAX_TILES = 200_000  # one slide's bag; larger requests are refused, not attempted


def predict_bags(head, meta: dict[str, Any], frame) -> pd.DataFrame:
    """One row per bag: predicted label, one probability column per class, attention over the bag's tiles."""
    frame = pd.DataFrame(frame)
    if TILES not in frame.columns:
        raise BadRequest(f"expected a '{TILES}' column (one bag of tile vectors per row), got {list(frame.columns)}")
    bags = [bag_from_value(v, int(meta["encoder"]["dim"]), i) for i, v in enumerate(frame[TILES])]
    proba = head.predict_proba(bags)
    out = pd.DataFrame({"label": np.asarray(head.classes_)[proba.argmax(axis=1)].astype(str)})
    for j, c in enumerate(head.classes_):
        out[f"p_{c}"] = proba[:, j].astype(np.float64)
    out["attention"] = [head.attention(b).astype(np.float64).tolist() for b in bags]
    return out


def bag_from_value(value: Any, dim: int, row: int) -> np.ndarray:
    """A list of equal-length finite vectors -> (n_tiles, dim) float32, or a BadRequest naming the row."""
    try:
        bag = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in value])
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"row {row}: '{TILES}' must be a list of equal-length lists of numbers ({exc})") from None
    if not 0 < len(bag) <= MAX_TILES:
        raise BadRequest(f"row {row}: a bag needs 1 to {MAX_TILES} tiles, got {len(bag)}")
    if bag.shape[1] != dim:
        raise BadRequest(f"row {row}: each tile vector must have {dim} values, got {bag.shape[1]}")
    if not np.all(np.isfinite(bag)):
        raise BadRequest(f"row {row}: tile vectors contain NaN or inf")
    return bag


def slide_signature(head, meta: dict[str, Any], example: np.ndarray):
    """Input: a column of bags (array of arrays of doubles); outputs from a real prediction."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    out = predict_bags(head, meta, {TILES: [example.tolist()]})
    cols = [ColSpec("string", "label")] + [ColSpec("double", c) for c in out.columns if c.startswith("p_")]
    outputs = Schema([*cols, ColSpec(Array("double"), "attention")])
    inputs = Schema([ColSpec(Array(Array("double")), TILES, required=False), ColSpec("string", SLIDE, required=False)])
    return ModelSignature(inputs=inputs, outputs=outputs)
