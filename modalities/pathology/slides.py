"""Whole-slide images through OpenSlide: CLAM's tissue mask, a tile grid at a chosen resolution, tile reads.

The mask is CLAM's ``WholeSlideImage.segmentTissue`` (mahmoodlab/CLAM, checked against it on a real slide in
tests/reference/test_tissue_mask.py): at CLAM's segmentation level (level 0 for a one-level slide, else the
level OpenSlide names best for a 64x downsample, as ``create_patches_fp.py`` picks it), the HSV saturation of
the level's RGBA pixels is median-blurred (``mthresh``), thresholded (``sthresh``, or Otsu) and closed with a
``close`` x ``close`` kernel, all in that level's pixels; outer contours whose area minus their holes' passes
``a_t`` are kept, with up to ``max_n_holes`` of their largest holes above ``a_h`` cut out. Areas count
512 x 512 level-0 reference patches, ``int(512**2 / (sx * sy))`` level pixels each, sx and sy being the
level's per-axis downsample (level-0 size / level size), as CLAM computes them.

Memory stays bounded: a level of up to ``READ_PIXELS`` pixels is read in one piece, as CLAM reads it; a larger
one in strips of rows with a halo of the median kernel, the closing and contours then running on the level's
uint8 mask (identical to one read where OpenSlide
maps the level's rows onto whole level-0 rows, i.e. an integral downsample; elsewhere OpenSlide interpolates
strip offsets by a fraction of a pixel). CLAM refuses a level over 1e8 pixels; here such a level is reduced by
the smallest integer factor that brings it under that size (block means) and segmented there, kernels in the
reduced image's pixels. Coordinates are level-0 pixels; a tile covers ``extent`` level-0 pixels and is read
from the best level, then resampled to ``size`` pixels.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from embedforge.modalities.base import ItemError

log = logging.getLogger(__name__)

SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif")

# CLAM's parameters: create_patches_fp.py's defaults ("clam": what CLAM runs without --preset; a_t 100 keeps
# nothing smaller than 100 reference patches) and its presets (presets/bwh_biopsy.csv, bwh_resection.csv,
# tcga.csv): sthresh, mthresh, close, a_t, a_h, max_n_holes. ``slides:DIR`` defaults to "biopsy".
PRESETS: dict[str, dict[str, Any]] = {
    "biopsy": {"sthresh": 15, "mthresh": 11, "close": 2, "a_t": 1.0, "a_h": 1.0, "max_n_holes": 2},
    "resection": {"sthresh": 15, "mthresh": 11, "close": 4, "a_t": 100.0, "a_h": 16.0, "max_n_holes": 8},
    "tcga": {"sthresh": 8, "mthresh": 7, "close": 4, "a_t": 16.0, "a_h": 4.0, "max_n_holes": 8},
    "clam": {"sthresh": 8, "mthresh": 7, "close": 4, "a_t": 100.0, "a_h": 16.0, "max_n_holes": 8},
}
REF_PATCH = 512  # CLAM's ref_patch_size: area thresholds count 512 x 512 level-0 patches
SEG_DOWNSAMPLE = 64  # CLAM segments at the level OpenSlide names best for this downsample
READ_PIXELS = 1 << 25  # a segmentation level up to this size is read in one piece (as CLAM does), else in strips
MAX_SEG_PIXELS = 100_000_000  # CLAM refuses to segment a larger level; here it is reduced to under this size


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


def mask_params(preset: str = "biopsy", **overrides: Any) -> dict[str, Any]:
    """A preset's CLAM parameters with overrides applied (None leaves a value as the preset has it)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown tissue preset {preset!r}; choose one of {', '.join(PRESETS)}")
    p = dict(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    for key in ("sthresh", "mthresh", "close", "max_n_holes"):
        p[key] = int(p[key])
    return p


def segmentation_level(slide) -> int:
    """CLAM's ``seg_level=-1``: level 0 for a one-level slide, else OpenSlide's best level for a 64x downsample."""
    if slide.level_count == 1:
        return 0
    return int(slide.get_best_level_for_downsample(SEG_DOWNSAMPLE))


def level_scale(slide, level: int) -> tuple[float, float]:
    """Level-0 pixels per level pixel along x and y (CLAM's ``_assertLevelDownsamples``)."""
    (w0, h0), (w, h) = slide.level_dimensions[0], slide.level_dimensions[level]
    return w0 / float(w), h0 / float(h)


def segment_tissue(
    slide, preset: str = "biopsy", otsu: bool = False, **overrides: Any
) -> tuple[np.ndarray, tuple[float, float]]:
    """CLAM's tissue mask of a slide at its segmentation level, and the mask's level-0 pixels per pixel (x, y)."""
    import cv2

    p = mask_params(preset, **overrides)
    level = segmentation_level(slide)
    width, height = slide.level_dimensions[level]
    factor = max(1, math.ceil(math.sqrt(width * height / MAX_SEG_PIXELS)))
    if factor > 1:
        log.warning(
            "segmentation level %d is %d x %d px (CLAM refuses over %d px); segmenting it reduced %dx",
            level, width, height, MAX_SEG_PIXELS, factor,
        )  # fmt: skip
    blurred = _blurred_saturation(slide, level, p["mthresh"], factor)
    if otsu:
        _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_OTSU + cv2.THRESH_BINARY)
    else:
        _, binary = cv2.threshold(blurred, p["sthresh"], 255, cv2.THRESH_BINARY)
    del blurred
    if p["close"] > 0:
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((p["close"], p["close"]), np.uint8))
    sx, sy = level_scale(slide, level)
    scale = (sx * factor, sy * factor)
    return _filled(binary, scale, p), scale


def tissue_mask(
    image: np.ndarray,
    scale: float | tuple[float, float],
    preset: str = "biopsy",
    otsu: bool = False,
    **overrides: Any,
) -> np.ndarray:
    """CLAM's mask of an RGB(A) image held in memory whose pixels are ``scale`` level-0 pixels wide (x, y)."""
    import cv2

    p = mask_params(preset, **overrides)
    saturation = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)[:, :, 1]
    blurred = cv2.medianBlur(saturation, p["mthresh"])
    if otsu:
        _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_OTSU + cv2.THRESH_BINARY)
    else:
        _, binary = cv2.threshold(blurred, p["sthresh"], 255, cv2.THRESH_BINARY)
    if p["close"] > 0:
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((p["close"], p["close"]), np.uint8))
    return _filled(binary, _pair(scale), p)


def _pair(scale: float | tuple[float, float]) -> tuple[float, float]:
    return (float(scale), float(scale)) if isinstance(scale, int | float) else (float(scale[0]), float(scale[1]))


def _blurred_saturation(slide, level: int, mthresh: int, factor: int = 1) -> np.ndarray:
    """Median-blurred HSV saturation (uint8) of a whole level, read in one piece or in strips with a halo.

    ``factor`` > 1 reduces the level by block means first (only for levels CLAM would refuse as too large).
    """
    import cv2

    width, height = slide.level_dimensions[level]
    if factor == 1 and width * height <= READ_PIXELS:
        rgba = np.asarray(slide.read_region((0, 0), level, (width, height)))
        saturation = cv2.cvtColor(rgba, cv2.COLOR_RGB2HSV)[:, :, 1]
        del rgba
        return cv2.medianBlur(saturation, mthresh)
    out_w, out_h = width // factor, height // factor
    out = np.empty((out_h, out_w), np.uint8)
    halo = mthresh // 2 + 1  # rows this far from a strip's cut see the same neighbours as in one read
    rows = max(1, READ_PIXELS // (width * factor))  # output rows per strip
    downsample = slide.level_downsamples[level]
    if factor == 1 and abs(downsample - round(downsample)) > 1e-9:
        log.info("level %d's downsample %.6f is fractional: strip reads interpolate their offsets", level, downsample)
    for top in range(0, out_h, rows):
        lo, hi = max(0, top - halo), min(out_h, top + rows + halo)
        y0 = lo * factor
        region = slide.read_region((0, round(y0 * downsample)), level, (out_w * factor, (hi - lo) * factor))
        rgba = np.asarray(region)
        if factor > 1:
            blocks = rgba.reshape(hi - lo, factor, out_w, factor, 4).mean(axis=(1, 3))
            rgba = np.rint(blocks).astype(np.uint8)
        saturation = cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGB2HSV)[:, :, 1]
        blurred = cv2.medianBlur(saturation, mthresh)
        out[top : min(out_h, top + rows)] = blurred[top - lo : top - lo + min(rows, out_h - top)]
    return out


def _filled(binary: np.ndarray, scale: tuple[float, float], p: dict[str, Any]) -> np.ndarray:
    """CLAM's ``_filter_contours`` + ``get_seg_mask(use_holes=True)`` at the mask's own scale.

    Outer contours (RETR_CCOMP, no parent) whose area minus their holes' areas is nonzero and above a_t are
    kept; of each, the ``max_n_holes`` largest holes with area above a_h are kept. Contours are drawn filled,
    largest first, each followed by its kept holes drawn filled with 0 (so an island inside a hole survives).
    """
    import cv2

    ref_area = int(REF_PATCH**2 / (scale[0] * scale[1]))  # CLAM's scaled_ref_patch_area (truncated)
    a_t, a_h, max_holes = p["a_t"] * ref_area, p["a_h"] * ref_area, int(p["max_n_holes"])
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    mask = np.zeros(binary.shape, np.uint8)
    if hierarchy is None:
        return mask.astype(bool)
    parent = hierarchy[0][:, 3]
    kept: list[tuple[Any, list[Any]]] = []
    for idx in np.flatnonzero(parent == -1):
        holes = [contours[h] for h in np.flatnonzero(parent == idx)]
        area = cv2.contourArea(contours[idx]) - np.array([cv2.contourArea(h) for h in holes]).sum()
        if area == 0 or not a_t < area:
            continue
        biggest = sorted(holes, key=cv2.contourArea, reverse=True)[:max_holes]
        kept.append((contours[idx], [h for h in biggest if cv2.contourArea(h) > a_h]))
    for contour, holes in sorted(kept, key=lambda c: cv2.contourArea(c[0]), reverse=True):
        cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED)
        if holes:
            cv2.drawContours(mask, holes, -1, 0, thickness=cv2.FILLED)
    return mask.astype(bool)


def tile_grid(
    mask: np.ndarray,
    scale: float | tuple[float, float],
    dims: tuple[int, int],
    extent: int,
    threshold: float = 0.5,
) -> list[tuple[int, int, float]]:
    """Non-overlapping level-0 tiles (x, y, tissue fraction) whose tissue fraction passes ``threshold``.

    ``scale`` is the mask's level-0 pixels per pixel, one number or (x, y).
    """
    sx, sy = _pair(scale)
    integral = np.pad(mask.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    out = []
    h, w = mask.shape
    for y in range(0, dims[1] - extent + 1, extent):
        for x in range(0, dims[0] - extent + 1, extent):
            x0, y0 = min(w - 1, int(x / sx)), min(h - 1, int(y / sy))
            x1, y1 = max(x0 + 1, min(w, round((x + extent) / sx))), max(y0 + 1, min(h, round((y + extent) / sy)))
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
    return _image_tile(path, str(path))


def decode_image_tile(data: bytes, name: str) -> Tile:
    """Request bytes of a PNG/JPEG tile -> Tile (served tile encoders)."""
    import io

    return _image_tile(io.BytesIO(data), name)


def _image_tile(source: Any, name: str) -> Tile:
    """Decode an image whose header says it fits ``max_tile_pixels``; a larger one (a decompression bomb: a few
    KB of PNG for 81 Mpx) is refused before a pixel is decoded."""
    from PIL import Image

    from embedforge.registry.settings import Settings

    limit = Settings().max_tile_pixels
    try:
        with Image.open(source) as img:
            width, height = img.size
            if width * height > limit:
                raise ItemError(
                    f"{name}: image of {width} x {height} pixels is over the {limit:,}-pixel tile limit "
                    "(EMBEDFORGE_MAX_TILE_PIXELS); refused before decoding"
                )
            return Tile(image=np.asarray(img.convert("RGB")), slide=name)
    except ItemError:
        raise
    except Exception as exc:  # PIL raises many types for a corrupt file (OSError, SyntaxError, ValueError, ...)
        raise ItemError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None
