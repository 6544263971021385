"""Synthetic pyramidal slides (tiled TIFF with resolution tags, 3 levels) that OpenSlide reads as generic-tiff.

A slide is white glass with one pink tissue block; a positive slide has a few tiles of dense dark-purple
nuclei among many stroma tiles, so the label is decided by a few tiles among many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BASE_MPP = 0.5
GLASS = (242, 242, 240)


def tissue_block(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pink stroma with fibres and sparse pale nuclei."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = (232, 170, 200)
    img += rng.normal(0, 10, (h, w, 1))
    for _ in range(h * w // 900):
        y, x = rng.integers(0, h), rng.integers(0, w)
        img[max(0, y - 1) : y + 2, max(0, x - 6) : x + 6] = (205, 120, 170)
    for _ in range(h * w // 1600):
        y, x = rng.integers(2, h - 2), rng.integers(2, w - 2)
        img[y - 2 : y + 3, x - 2 : x + 3] = (170, 120, 190)
    return img


def add_tumour(img: np.ndarray, rng: np.random.Generator, y: int, x: int, size: int) -> None:
    """Dense dark-purple nuclei filling one tile-sized square."""
    patch = img[y : y + size, x : x + size]
    patch[:] = (200, 150, 205)
    for _ in range(size * size // 40):
        cy, cx = rng.integers(3, size - 3), rng.integers(3, size - 3)
        r = int(rng.integers(2, 4))
        patch[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = np.array((70.0, 30.0, 110.0)) + rng.normal(0, 8, 3)


def write_slide(
    path: str | Path,
    positive: bool,
    seed: int,
    size: tuple[int, int] = (768, 640),
    tissue: tuple[int, int, int, int] = (128, 128, 512, 512),
    tile: int = 128,
    n_tumour: int = 2,
    blank: bool = False,
) -> Path:
    """Write one slide; ``tissue`` = (x, y, w, h) at level 0; tumour squares snap to the ``tile`` grid."""

    rng = np.random.default_rng(seed)
    width, height = size
    img = np.empty((height, width, 3), np.float32)
    img[:] = GLASS
    img += rng.normal(0, 1.5, (height, width, 1))
    tumours = []
    if not blank:
        x0, y0, w, h = tissue
        block = tissue_block(rng, h, w)
        if positive:
            cells = [(r, c) for r in range(h // tile) for c in range(w // tile)]
            for k in rng.choice(len(cells), n_tumour, replace=False):
                r, c = cells[k]
                add_tumour(block, rng, r * tile, c * tile, tile)
                tumours.append((x0 + c * tile, y0 + r * tile))
        img[y0 : y0 + h, x0 : x0 + w] = block
    write_pyramid(path, np.clip(img, 0, 255).astype(np.uint8))
    return tumours


def write_pyramid(path: str | Path, img: np.ndarray, levels: int = 3, mpp: float = BASE_MPP) -> None:
    """Tiled, deflate-compressed, one directory per level (x2 each), resolution in pixels per centimetre."""
    import tifffile

    with tifffile.TiffWriter(path) as tw:
        for level in range(levels):
            f = 2**level
            res = 1e4 / (mpp * f)
            tw.write(
                img[::f, ::f],
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                compressionargs={"level": 1},
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                subfiletype=0 if level == 0 else 1,
            )


def write_cohort(root: Path, n: int, seed: int = 0, labels: bool = True, **kw) -> tuple[dict, dict]:
    """``n`` slides, half positive, labels.csv (slide_id,label,patient); -> (slide -> label, slide -> tumour xy)."""
    root.mkdir(parents=True, exist_ok=True)
    truth, tumours = {}, {}
    for i in range(n):
        positive = i % 2 == 1
        sid = f"slide{i:03d}"
        tumours[sid] = write_slide(root / f"{sid}.tiff", positive, seed * 1000 + i, **kw)
        truth[sid] = "tumor" if positive else "normal"
    if labels:
        lines = ["slide_id,label,patient"] + [f"{s},{lab},p{k}" for k, (s, lab) in enumerate(truth.items())]
        (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return truth, tumours
