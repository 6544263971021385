"""A slide in, a diagnosis out: tile one whole-slide image with the recipe the head was trained on, embed its tiles
with the same encoder (checked by fingerprint), and let the MIL head answer with its class probabilities and the
tiles it attended to most.

Used by the served slide classifier (a ``slide`` column: a ``file://`` path under the allowed roots, or the file
base64-encoded within the size limit) and by ``embedforge predict SLIDE --model NAME@ALIAS`` locally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import BadRequest, ItemError
from embedforge.tasks.progress import Tick, silent

TOP_TILES = 10
BATCH = 32


def training_recipe(slides_ref: str | None, feats) -> dict[str, Any]:
    """The tiling recipe a slide head's tiles were cut with: the ``slides:DIR`` adapter's when the run names it,
    else the adapter's defaults at the tile size and resolution the stored tiles carry."""
    from embedforge.modalities.pathology.datasets import tiling_recipe
    from embedforge.registry.datasets import open_dataset

    if slides_ref:
        return dict(open_dataset(slides_ref).recipe)  # type: ignore[attr-defined]
    first = next((lab for lab in feats.labels if "size" in lab), None)
    given = {} if first is None else {"tile_size": first["size"], "mpp": first.get("mpp")}
    return tiling_recipe(given)


def slide_bag(
    path: str, encoder, recipe: dict[str, Any], name: str | None = None, progress: Tick = silent
) -> tuple[np.ndarray, list[dict]]:
    """Tile one slide with ``recipe`` and embed its tissue tiles: (tiles x dim vectors, each tile's position)."""
    from embedforge.modalities.pathology.datasets import scan_slide, slide_digest
    from embedforge.modalities.pathology.slides import Tile, open_slide, read_tile

    sid = name or Path(path).stem
    progress(0, None, f"{sid}: finding tissue")
    scan = scan_slide(path, sid, slide_digest(Path(path)), json.dumps(recipe, sort_keys=True))
    if isinstance(scan, str):
        raise ItemError(f"{sid}: {scan}")
    geom, tiles = scan
    slide = open_slide(path, sid)
    vectors, batch = [], []
    try:
        for x, y, _ in tiles:
            tile = Tile(image=read_tile(slide, x, y, geom), slide=sid, x=x, y=y, level=geom.level, mpp=geom.mpp)
            batch.append(encoder.preprocess(tile, f"{sid}/{x}_{y}"))
            if len(batch) == BATCH:
                vectors.append(np.asarray(encoder.encode(batch), dtype=np.float32))
                batch = []
                progress(BATCH * len(vectors), len(tiles), f"{sid}: embedding tissue tiles")
        if batch:
            vectors.append(np.asarray(encoder.encode(batch), dtype=np.float32))
        progress(len(tiles), len(tiles), f"{sid}: embedding tissue tiles")
    finally:
        slide.close()
    coords = [{"x": int(x), "y": int(y), **geom.to_dict()} for x, y, _ in tiles]
    return np.concatenate(vectors), coords


def diagnose(head, bag: np.ndarray, coords: list[dict], top: int = TOP_TILES) -> dict[str, Any]:
    """The head's answer for one bag: label, class probabilities, and the most-attended tiles with coordinates."""
    proba = head.predict_proba([bag])[0]
    attention = np.asarray(head.attention(bag), dtype=np.float64)
    classes = [str(c) for c in head.classes_]
    best = np.argsort(-attention, kind="stable")[:top]
    return {
        "label": classes[int(proba.argmax())],
        "probabilities": {c: float(p) for c, p in zip(classes, proba, strict=True)},
        "tiles": len(bag),
        "top_tiles": [
            {"x": coords[i]["x"], "y": coords[i]["y"], "extent": coords[i]["extent"], "attention": float(attention[i])}
            for i in best
        ],
        "attention": attention,
    }


def predict_slide(
    model_uri: str, slide: str, tracking_uri: str | None = None, heatmap: str | None = None, progress: Tick = silent
) -> dict[str, Any]:
    """``embedforge predict``: the registered slide classifier's answer for one local slide (and its heatmap)."""
    import mlflow

    from embedforge.registry.settings import Settings

    mlflow.set_tracking_uri(tracking_uri or Settings().mlflow_uri)
    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not getattr(model, "recipe", None):
        raise BadRequest(f"{model_uri} was registered without its tiling recipe: retrain it to predict from slides")
    bag, coords = slide_bag(slide, model.slide_encoder(), model.recipe, progress=progress)
    answer = diagnose(model.head, bag, coords)
    if heatmap:
        from embedforge.modalities.pathology.heatmap import heatmap_figure

        p = answer["probabilities"][answer["label"]]
        title = f"{Path(slide).name} · predicted: {answer['label']} (p = {p:.2f}) · {answer['tiles']} tiles"
        fig = heatmap_figure(slide, coords, answer["attention"], title)
        Path(heatmap).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(heatmap, bbox_inches="tight", pad_inches=0.05)
        answer["heatmap"] = heatmap
    answer.pop("attention")
    return answer
