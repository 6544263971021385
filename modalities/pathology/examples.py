"""Small offline pathology inputs (``Modality.examples``): stained-tissue-like tiles, a PNG query, and a folder of
two synthetic pyramidal slides (tiled TIFF, written with ``tifffile`` when it is installed: the test extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedforge.modalities.pathology.slides import Tile

TILE = 96
MPP = 0.5  # level-0 microns per pixel of the example slides
TILING = {"tile_size": 64, "mpp": 1.0, "a_t": 0.25}  # small tiles at level 1, small tissue blocks kept


def tissue(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pink stroma with darker fibres and purple nuclei, float32 RGB."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = (232, 170, 200)
    img += rng.normal(0, 10, (h, w, 1))
    for _ in range(max(1, h * w // 900)):
        y, x = rng.integers(0, h), rng.integers(0, w)
        img[max(0, y - 1) : y + 2, max(0, x - 6) : x + 6] = (205, 120, 170)
    for _ in range(max(1, h * w // 400)):
        y, x = rng.integers(2, h - 2), rng.integers(2, w - 2)
        img[y - 2 : y + 3, x - 2 : x + 3] = (120, 70, 150)
    return img


def sample(seed: int) -> Tile:
    """One 96 x 96 RGB uint8 tile."""
    image = np.clip(tissue(np.random.default_rng(seed), TILE, TILE), 0, 255).astype(np.uint8)
    return Tile(image=image, slide=f"example{seed}")


def query_file(folder: str, seed: int) -> str:
    """The same tile as a PNG file."""
    from PIL import Image

    path = Path(folder) / f"query{seed}.png"
    Image.fromarray(sample(seed).image).save(path)
    return str(path)


def write_slide(path: str | Path, seed: int, size: tuple[int, int] = (640, 512), levels: int = 3) -> Path:
    """White glass with one tissue block, as a tiled 3-level TIFF with resolution tags (OpenSlide: generic-tiff)."""
    import tifffile

    rng = np.random.default_rng(seed)
    width, height = size
    img = np.full((height, width, 3), (242, 242, 240), np.float32) + rng.normal(0, 1.5, (height, width, 1))
    img[128:384, 128:448] = tissue(rng, 256, 320)
    img = np.clip(img, 0, 255).astype(np.uint8)
    with tifffile.TiffWriter(path) as tw:
        for level in range(levels):
            res = 1e4 / (MPP * 2**level)  # pixels per centimetre
            tw.write(
                img[:: 2**level, :: 2**level],
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                subfiletype=0 if level == 0 else 1,
            )
    return Path(path)


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """Two labelled slides (one train, one test) under ``slides/``; none when ``tifffile`` is not installed."""
    try:
        import tifffile  # noqa: F401
    except ImportError:
        return {}
    root = Path(folder) / "slides"
    root.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        write_slide(root / f"slide{i}.tiff", seed=i)
    (root / "labels.csv").write_text("slide_id,label,split\nslide0,normal,train\nslide1,tumor,test\n")
    return {"slides": (f"slides:{root}", dict(TILING))}
