"""``slides:DIR``: every slide file under DIR, cut into tissue tiles; labels from ``labels.csv``.

Items are tiles (id ``<slide>/<x>_<y>``, group = slide id); their labels carry the slide label, patient,
level-0 coordinates, level and mpp. A slide that cannot be read, or shows no tissue, becomes one item
(id = slide id) whose load raises the reason, so the embed run records it as a failure and goes on.
Options (tile_size, mpp or magnification, preset, otsu, tissue, CLAM's mask thresholds) come from the
command, else from ``DIR/tiling.json``, else the defaults. The tissue mask is CLAM's, computed at CLAM's
segmentation level (``slides.segment_tissue``); a tile is kept when its tissue fraction in that mask passes
``tissue``. The embed planner cuts one shard per slide
(``shard_by = "group"``), so a slide's tiles are committed together; ``prefetch`` bounds how many decoded
tiles wait for the encoder.
"""

from __future__ import annotations

import csv
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.pathology.slides import (
    PRESETS,
    SLIDE_SUFFIXES,
    Geometry,
    SlideCache,
    Tile,
    geometry,
    open_slide,
    read_tile,
    segment_tissue,
    thumbnail,
    tile_grid,
)
from embedforge.modalities.stamps import file_sha256_memo
from embedforge.registry.datasets import DATASETS

DEFAULTS: dict[str, Any] = {
    "tile_size": 256,
    "mpp": 0.5,
    "magnification": None,
    "preset": "biopsy",
    "otsu": False,
    "tissue": 0.5,  # minimum tissue fraction of a kept tile
    "test_fraction": 0.3,
    "seed": 0,
}
RECIPE_FILE = "tiling.json"  # a cohort's own tiling options, beside labels.csv (used by every command)
FULL_HASH_BYTES = 64 << 20  # larger slides are hashed by size, head and tail (a full read per scan is too slow)


class SlideFolder(Dataset):
    """Slides under a folder -> tissue tiles at a chosen resolution."""

    modality = "pathology"
    shard_by = "group"  # one shard per slide: its tiles are stored together or not at all
    prefetch = 64  # decoded tiles held ahead of the encoder

    def __init__(self, root: str, labels: str | None = None, **options: Any) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"slides: {root!r} is not a folder")
        self.label_path = Path(labels) if labels else self.root / "labels.csv"
        o = {**DEFAULTS, **folder_recipe(self.root), **options}  # explicit options win over DIR/tiling.json
        self.prefetch = int(o.pop("prefetch", type(self).prefetch))  # read-ahead only: not part of the recipe
        self.recipe = tiling_recipe(o)
        self.test_fraction, self.seed = float(o["test_fraction"]), int(o["seed"])
        self.slides = SlideCache()

    def slide_files(self) -> list[Path]:
        """Everything named like a slide, readable or not (a folder named ``x.svs`` becomes a failing item)."""
        return sorted(p for p in self.root.rglob("*") if p.suffix.lower() in SLIDE_SUFFIXES)

    def items(self) -> list[Item]:
        table = read_labels(self.label_path) if self.label_path.exists() else {}
        splits = patient_split(table, self.test_fraction, self.seed)
        out, seen = [], set()
        for path in self.slide_files():
            sid = slide_id(path, self.root)
            seen.add(sid)
            row = table.get(sid, {})
            meta = {k: row[k] for k in ("label", "patient") if row.get(k) not in (None, "")}
            split = row.get("split") or splits.get(sid)
            split = split if "label" in meta else None
            if not path.is_file():
                out.append(_failed(sid, str(path), "not a regular file (a folder, a device or a broken link)", meta))
                continue
            out += self.slide_items(path, sid, meta, split)
        for sid in sorted(set(table) - seen):  # a label for a slide that is not there: listed, never dropped
            out.append(_failed(sid, str(self.root / sid), f"listed in {self.label_path.name} but no slide file", {}))
        return out

    def slide_items(self, path: Path, sid: str, meta: dict[str, Any], split: str | None) -> list[Item]:
        """The slide's tissue tiles, or one failing item carrying why it has none."""
        digest = slide_digest(path)
        scan = scan_slide(str(path), sid, digest, json.dumps(self.recipe, sort_keys=True))
        if isinstance(scan, str):
            failed = hashlib.sha256(f"{digest}:failed:{scan}".encode()).hexdigest()
            return [Item(sid, str(path), failed, {"slide": sid, "error": scan, **meta}, split, sid)]
        geom, tiles = scan
        out = []
        for x, y, frac in tiles:
            labels = {"slide": sid, **meta, "x": x, "y": y, **geom.to_dict(), "tissue": round(frac, 4)}
            h = hashlib.sha256(f"{digest}:{json.dumps(geom.to_dict(), sort_keys=True)}:{x}:{y}".encode())
            out.append(
                Item(f"{sid}/{x}_{y}", f"{path}#x={x}&y={y}&level={geom.level}", h.hexdigest(), labels, split, sid)
            )
        return out

    def load(self, item: Item) -> Tile:
        lab = item.labels
        if "error" in lab:
            raise ItemError(f"{item.id}: {lab['error']}")
        path = item.uri.rpartition("#")[0]
        geom = Geometry(**{k: lab[k] for k in ("size", "extent", "level", "read", "mpp")})
        try:
            image = read_tile(self.slides.get(path, lab["slide"]), lab["x"], lab["y"], geom)
        except ItemError:
            raise
        except Exception as exc:  # openslide/PIL raise many types: the tile's error names it
            raise ItemError(f"{item.id}: tile unreadable ({type(exc).__name__}: {exc})") from None
        return Tile(image=image, slide=lab["slide"], x=lab["x"], y=lab["y"], level=geom.level, mpp=geom.mpp)


def tiling_recipe(options: dict[str, Any]) -> dict[str, Any]:
    """How slides are cut (tile size, resolution, tissue mask), from adapter options over ``DEFAULTS``: what a
    slide head records so a slide it has never seen is tiled the same way."""
    o = {**DEFAULTS, **options}
    mask = {k: v for k, v in o.items() if k not in DEFAULTS}
    return {
        "size": int(o["tile_size"]),
        "mpp": _number(o["mpp"]),
        "magnification": _number(o["magnification"]),
        "preset": str(o["preset"]),
        "otsu": str(o["otsu"]).lower() in ("1", "true", "yes"),
        "tissue": float(o["tissue"]),
        "mask": mask_overrides(mask),
    }


@lru_cache(maxsize=256)
def scan_slide(path: str, sid: str, digest: str, recipe: str) -> tuple[Geometry, list] | str:
    """Geometry and kept tiles of one slide version and recipe, or the reason it has none (cached)."""
    r = json.loads(recipe)
    try:
        slide = open_slide(path, sid)
        try:
            geom = geometry(slide, sid, r["size"], r["mpp"], r["magnification"])
            mask, scale = segment_tissue(slide, r["preset"], r["otsu"], **r["mask"])
            tiles = tile_grid(mask, scale, slide.dimensions, geom.extent, r["tissue"])
        finally:
            slide.close()
    except ItemError as exc:
        return str(exc).removeprefix(f"{sid}: ")
    except Exception as exc:  # any reader failure is this slide's reason, recorded; other slides go on
        return f"cannot tile ({type(exc).__name__}: {exc})"
    if not tiles:
        return "no tissue found (no tile passes the tissue threshold)"
    return geom, tiles


def folder_recipe(root: Path) -> dict[str, Any]:
    """Options from ``DIR/tiling.json`` (e.g. ``{"tile_size": 128, "mpp": 1.0}``), if the folder has one."""
    path = root / RECIPE_FILE
    if not path.is_file():
        return {}
    try:
        recipe = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(recipe, dict):
        raise ValueError(f"{path}: expected an object of tiling options")
    return recipe


def mask_overrides(options: dict[str, Any]) -> dict[str, float]:
    """Preset overrides (CLAM's names: sthresh, mthresh, close, a_t, a_h, max_n_holes); others are errors."""
    unknown = set(options) - set(PRESETS["biopsy"])
    if unknown:
        known = [*sorted(DEFAULTS), "prefetch", *sorted(PRESETS["biopsy"])]
        raise TypeError(f"slides: unknown options {sorted(unknown)}; known: {', '.join(known)}")
    return {k: float(v) for k, v in options.items()}


def slide_thumbnail(path: str, max_side: int = 1024) -> tuple[np.ndarray, float]:
    """An RGB thumbnail of a slide and its level-0 pixels per thumbnail pixel (heatmap background)."""
    slide = open_slide(path, Path(path).stem)
    try:
        return thumbnail(slide, max(slide.dimensions) / max_side)
    finally:
        slide.close()


def slide_mpp(path: str) -> float | None:
    """Microns per level-0 pixel as the slide's header says (None where it does not): a heatmap's scale bar."""
    from embedforge.modalities.pathology.slides import base_mpp

    slide = open_slide(path, Path(path).stem)
    try:
        return base_mpp(slide)
    finally:
        slide.close()


def slide_id(path: Path, root: Path) -> str:
    """The file name without its extension (relative folders kept, so ids stay unique)."""
    rel = path.relative_to(root)
    return str(rel.with_suffix("")) if rel.parent != Path(".") else path.stem


def slide_digest(path: Path) -> str:
    """Content hash: all bytes of a small slide; size, head and tail of a large one."""
    size = path.stat().st_size
    if size <= FULL_HASH_BYTES:
        return file_sha256_memo(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(size - (1 << 20))
        h.update(f.read(1 << 20))
    return h.hexdigest()


def _failed(sid: str, uri: str, why: str, meta: dict[str, Any]) -> Item:
    """An item that fails at load naming why: recorded in the run's failures, never silently skipped."""
    digest = hashlib.sha256(f"{uri}:failed:{why}".encode()).hexdigest()
    return Item(sid, uri, digest, {"slide": sid, "error": f"{uri}: {why}", **meta}, None, sid)


def read_labels(path: Path) -> dict[str, dict[str, str]]:
    """``slide_id,label[,split,patient]`` -> {slide_id: row}; a missing label column or a repeated id is an error."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"slide_id", "label"} <= set(rows[0]):
        raise ValueError(f"{path}: needs columns slide_id,label (optional split, patient); got {list(rows[0])}")
    lines: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        lines.setdefault((r["slide_id"] or "").strip(), []).append(i + 2)  # 1-based, after the header
    repeated = {sid: at for sid, at in lines.items() if len(at) > 1}
    if repeated:
        shown = "; ".join(f"{sid!r} on lines {', '.join(map(str, at))}" for sid, at in list(repeated.items())[:5])
        raise ValueError(f"{path}: slide ids repeated ({shown}): one row per slide")
    return {r["slide_id"].strip(): {k: (v or "").strip() for k, v in r.items()} for r in rows}


def patient_split(table: dict[str, dict[str, str]], test_fraction: float, seed: int) -> dict[str, str]:
    """Labelled slides without a split column: a stratified train/test split by patient."""
    if any(r.get("split") for r in table.values()):
        return {}
    patients: dict[str, list[str]] = {}
    for sid, row in table.items():
        if row.get("label"):
            patients.setdefault(row.get("patient") or sid, []).append(sid)
    by_class: dict[str, list[str]] = {}
    for pid, sids in sorted(patients.items()):
        by_class.setdefault(table[sids[0]]["label"], []).append(pid)
    rng, out = np.random.default_rng(seed), {}
    for _, pids in sorted(by_class.items()):
        order = [pids[i] for i in rng.permutation(len(pids))]
        n_test = min(len(order) - 1, max(1, round(test_fraction * len(order)))) if len(order) > 1 else 0
        for k, pid in enumerate(order):
            for sid in patients[pid]:
                out[sid] = "test" if k < n_test else "train"
    return out


def _number(value: Any) -> float | None:
    if value in (None, "", "none", "None", 0, "0"):
        return None
    return float(value)


DATASETS.register("slides", lambda arg, **opts: SlideFolder(arg, **opts))
