"""Whole-slide images through OpenSlide: CLAM-style tissue mask, a tile grid at a chosen resolution, tile reads.

The mask follows CLAM's ``segmentTissue``: HSV saturation, median blur, a fixed (or Otsu) threshold,
morphological closing, then outer contours kept by area (holes subtracted) with their largest holes cut
out. Area thresholds are in units of a 512 x 512 level-0 reference patch, as in CLAM's presets.
Coordinates are level-0 pixels; a tile covers ``extent`` level-0 pixels and is read from the best level,
then resampled to ``size`` pixels.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from embedforge.modalities.base import ItemError

SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif")

# CLAM's presets (presets/bwh_biopsy.csv, bwh_resection.csv): sthresh, mthresh, close, a_t, a_h, max_n_holes.
PRESETS: dict[str, dict[str, Any]] = {
    "biopsy": {"sthresh": 15, "mthresh": 11, "close": 2, "a_t": 1.0, "a_h": 1.0, "max_n_holes": 2},
    "resection": {"sthresh": 15, "mthresh": 11, "close": 4, "a_t": 100.0, "a_h": 16.0, "max_n_holes": 8},
}
REF_PATCH = 512  # CLAM's ref_patch_size: area thresholds count 512 x 512 level-0 patches


@dataclass(frozen=True)
class Tile:
    """One tile as RGB uint8 (size x size x 3), with where it came from (level-0 x, y; mpp)."""

    image: np.ndarray
    slide: str = ""
    x: int = 0
    y: int = 0
    level: int = 0
    mpp: float | None = None


@dataclass(frozen=True)
class Geometry:
    """How a slide is cut: tile size and level-0 extent, the level read and its read size."""

    size: int
    extent: int  # level-0 pixels a tile covers
    level: int
    read: int  # pixels read at ``level`` before resampling to ``size``
    mpp: float | None  # microns per pixel of the output tiles

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_slide(path: str, name: str):
    """An OpenSlide handle; a file OpenSlide cannot read becomes an ItemError naming the slide."""
    import openslide

    try:
        return openslide.OpenSlide(path)
    except Exception as exc:  # OpenSlideUnsupportedFormatError, OpenSlideError, OSError
        raise ItemError(f"{name}: not a readable slide ({type(exc).__name__}: {exc})") from None


def base_mpp(slide) -> float | None:
    """Level-0 microns per pixel from the slide's properties (mpp, else objective power)."""
    props = slide.properties
    for key in ("openslide.mpp-x", "openslide.mpp-y"):
        try:
            value = float(props.get(key, ""))
            if value > 0:
                return value
        except ValueError:
            continue
    try:
        return 10.0 / float(props.get("openslide.objective-power", ""))
    except (ValueError, ZeroDivisionError):
        return None


def geometry(slide, name: str, size: int = 256, mpp: float | None = 0.5, magnification: float | None = None):
    """Tile geometry for a target resolution (``mpp``, or ``magnification`` against the objective power)."""
    base = base_mpp(slide)
    if magnification:
        try:
            objective = float(slide.properties.get("openslide.objective-power", ""))
        except ValueError:
            raise ItemError(f"{name}: no objective power in the slide, cannot tile at {magnification}x") from None
        down, out_mpp = objective / float(magnification), (base * objective / magnification if base else None)
    elif mpp:
        if base is None:
            raise ItemError(f"{name}: no resolution (mpp) in the slide; pass mpp=none to tile level 0 natively")
        down, out_mpp = float(mpp) / base, float(mpp)
    else:
        down, out_mpp = 1.0, base
    if down < 0.999:
        raise ItemError(f"{name}: asked for {out_mpp} um/px but the slide's finest level is {base} um/px")
    level = slide.get_best_level_for_downsample(down * 1.001)
    read = max(1, round(size * down / slide.level_downsamples[level]))
    return Geometry(size=int(size), extent=max(1, round(size * down)), level=int(level), read=int(read), mpp=out_mpp)


def thumbnail(slide, downsample: float) -> tuple[np.ndarray, float]:
    """An RGB thumbnail near ``downsample`` (from the nearest coarser-or-equal level), and its true scale."""
    width, height = slide.dimensions
    size = (max(1, round(width / downsample)), max(1, round(height / downsample)))
    image = np.asarray(slide.get_thumbnail(size).convert("RGB"))
    return image, width / image.shape[1]


def tissue_mask(
    image: np.ndarray,
    scale: float,
    preset: str = "biopsy",
    otsu: bool = False,
    **overrides: Any,
) -> np.ndarray:
    """Binary tissue mask of an RGB thumbnail whose pixels are ``scale`` level-0 pixels wide (CLAM's way)."""
    import cv2

    p = dict(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    saturation = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)[:, :, 1]
    blurred = cv2.medianBlur(saturation, int(p["mthresh"]))
    if otsu:
        _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_OTSU + cv2.THRESH_BINARY)
    else:
        _, binary = cv2.threshold(blurred, int(p["sthresh"]), 255, cv2.THRESH_BINARY)
    if p["close"] > 0:
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((int(p["close"]),) * 2, np.uint8))
    ref_area = REF_PATCH**2 / scale**2
    return _filled(binary, p["a_t"] * ref_area, p["a_h"] * ref_area, int(p["max_n_holes"]))


def _filled(binary: np.ndarray, a_t: float, a_h: float, max_holes: int) -> np.ndarray:
    """Outer contours with area (minus holes) above a_t, filled; their largest holes above a_h cut out."""
    import cv2

    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    mask = np.zeros(binary.shape, np.uint8)
    if hierarchy is None:
        return mask.astype(bool)
    parent = hierarchy[0][:, 3]
    for idx in np.flatnonzero(parent == -1):
        holes = [contours[h] for h in np.flatnonzero(parent == idx)]
        area = cv2.contourArea(contours[idx]) - sum(cv2.contourArea(h) for h in holes)
        if area <= 0 or area <= a_t:
            continue
        cv2.drawContours(mask, [contours[idx]], -1, 1, thickness=cv2.FILLED)
        kept = [h for h in sorted(holes, key=cv2.contourArea, reverse=True)[:max_holes] if cv2.contourArea(h) > a_h]
        if kept:
            cv2.drawContours(mask, kept, -1, 0, thickness=cv2.FILLED)
    return mask.astype(bool)


def tile_grid(
    mask: np.ndarray, scale: float, dims: tuple[int, int], extent: int, threshold: float = 0.5
) -> list[tuple[int, int, float]]:
    """Non-overlapping level-0 tiles (x, y, tissue fraction) whose tissue fraction passes ``threshold``."""
    integral = np.pad(mask.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    out = []
    h, w = mask.shape
    for y in range(0, dims[1] - extent + 1, extent):
        for x in range(0, dims[0] - extent + 1, extent):
            x0, y0 = min(w - 1, int(x / scale)), min(h - 1, int(y / scale))
            x1, y1 = max(x0 + 1, min(w, round((x + extent) / scale))), max(y0 + 1, min(h, round((y + extent) / scale)))
            inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
            frac = float(inside / ((y1 - y0) * (x1 - x0)))
            if frac >= threshold and frac > 0:
                out.append((x, y, frac))
    return out


def read_tile(slide, x: int, y: int, geom: Geometry) -> np.ndarray:
    """RGB uint8 tile (size x size x 3): read at the best level, composited on white, resampled."""
    from PIL import Image

    region = slide.read_region((int(x), int(y)), geom.level, (geom.read, geom.read))
    rgb = Image.new("RGB", region.size, (255, 255, 255))
    rgb.paste(region, mask=region.getchannel("A"))
    if geom.read != geom.size:
        rgb = rgb.resize((geom.size, geom.size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb)


class SlideCache:
    """A few open slides per process, shared by reader threads (OpenSlide reads are thread-safe)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity, self._lock = capacity, threading.Lock()
        self._open: OrderedDict[str, Any] = OrderedDict()

    def get(self, path: str, name: str):
        with self._lock:
            if path in self._open:
                self._open.move_to_end(path)
                return self._open[path]
        slide = open_slide(path, name)
        with self._lock:
            self._open[path] = slide
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)[1].close()
        return slide


def read_image_tile(path: str) -> Tile:
    """A PNG/JPEG tile (``search --query TILE.png``) as an RGB Tile."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return Tile(image=np.asarray(img.convert("RGB")), slide=str(path))
    except Exception as exc:
        raise ItemError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None


def decode_image_tile(data: bytes, name: str) -> Tile:
    """Request bytes of a PNG/JPEG tile -> Tile (served tile encoders)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return Tile(image=np.asarray(img.convert("RGB")), slide=name)
    except Exception as exc:
        raise ItemError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None
