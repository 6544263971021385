"""Golden files for the MIL heads, made by running the reference repositories' own model code.

    python tests/reference/make_golden.py rrt --repo /path/RRT-MIL      # DearCaat/RRT-MIL: modules/rrt.py
    python tests/reference/make_golden.py abmil --repo /path/CLAM       # mahmoodlab/CLAM: models/model_clam.py
    python tests/reference/make_golden.py clam-mask --repo /path/CLAM   # tests/reference/golden_clam_mask.py

The references are not copied into this project: each subcommand imports the model code from the checkout
given, builds it (seeded) for each case below, runs it on CPU in eval mode on fixed random bags and writes
one small ``.npz`` per case into tests/reference/golden/, with the reference's commit and the git blob of
every file imported recorded in the npz and in golden/README.md. tests/reference/test_mil.py copies the
weights into our heads and checks logits and attention to 1e-5.

The weights. R²T's layers are 512 wide whatever the input (about 2.2 M parameters, 8.8 MB of float32 a
case), so storing every state_dict tensor would not fit the 1 MB the golden files may take. Each float
tensor of the reference's state_dict is instead overwritten, before the reference runs, with values from a
seeded NumPy stream (``synth_state``: PCG64 ``random()``, a documented-stable stream, keyed by the case's
seed and the tensor's index, scaled to the spread of the reference's own initialisation); the npz keeps the
names, shapes, the scale and offset of each tensor and the SHA-256 of the exact float32 bytes the reference
ran with, so the test regenerates the very same tensors and proves it before loading them into our model.

Missing pure-Python dependencies of the reference (RRT-MIL's modules import ``einops``) go into a folder
of their own, never this project's environment: ``pip install --target /tmp/refdeps einops``; ``--deps``
(default /tmp/refdeps) is put on sys.path when it exists. ``timm`` comes from this project's environment.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOLDEN = HERE / "golden"
INPUT_DIM = 64

# name, reference constructor overrides (the reference's own names), tiles in the bag, classes, seed
RRT_CASES: list[tuple[str, dict[str, Any], int, int, int]] = [
    ("rrt_defaults_n100", {}, 100, 2, 1),  # the reference class's defaults: da_act relu
    ("rrt_tanh_n100", {"da_act": "tanh"}, 100, 2, 2),
    ("rrt_tanh_n37", {"da_act": "tanh"}, 37, 2, 3),
    ("rrt_relu_n37", {"da_act": "relu"}, 37, 2, 4),
    ("rrt_gelu_n64", {"da_act": "gelu"}, 64, 2, 5),
    ("rrt_region4_n100", {"da_act": "tanh", "region_num": 4}, 100, 2, 6),
    ("rrt_region12_n300", {"da_act": "tanh", "region_num": 12}, 300, 2, 7),
    # 1-token regions in R-MSA (and in CR-MSA, where the min-max dispatch of a lone token is 0: CR-MSA adds nothing)
    ("rrt_region12_n37", {"da_act": "tanh", "region_num": 12}, 37, 2, 8),
    ("rrt_all_shortcut_n37", {"da_act": "tanh", "all_shortcut": True}, 37, 2, 9),
    ("rrt_c16_r50_n100", {"da_act": "tanh", "epeg_k": 15, "crmsa_k": 1, "all_shortcut": True}, 100, 2, 10),
    ("rrt_brca_r50_n61", {"da_act": "tanh", "epeg_k": 17, "crmsa_k": 3, "crmsa_heads": 1}, 61, 3, 11),
    ("rrt_nsclc_plip_n100",
     {"da_act": "tanh", "epeg_k": 13, "crmsa_k": 3, "crmsa_heads": 1, "all_shortcut": True, "crmsa_mlp": True},
     100, 2, 12),
    ("rrt_heads4_crmsa_heads2_k5_n100", {"da_act": "tanh", "n_heads": 4, "crmsa_heads": 2, "crmsa_k": 5}, 100, 2, 13),
    ("rrt_no_epeg_no_crmsa_n50", {"epeg": False, "cr_msa": False}, 50, 2, 14),
]  # fmt: skip

# CLAM's AB-MIL: CLAM_SB (gated, single attention branch) as core_utils.train builds it with --drop_out 0.25
ABMIL_CASES: list[tuple[str, dict[str, Any], int, int, int]] = [
    ("abmil_clam_sb_small_n100", {"gate": True, "size_arg": "small", "dropout": 0.25}, 100, 2, 21),
    ("abmil_clam_sb_small_n37_3class", {"gate": True, "size_arg": "small", "dropout": 0.25}, 37, 3, 22),
    ("abmil_clam_sb_big_n50", {"gate": True, "size_arg": "big", "dropout": 0.25}, 50, 2, 23),
]

REPOS = {"rrt": "DearCaat/RRT-MIL", "abmil": "mahmoodlab/CLAM"}


def synth_tensor(seed: int, index: int, shape: tuple[int, ...], scale: float, offset: float) -> np.ndarray:
    """offset + scale * U(-1, 1), float32, from PCG64 keyed by (seed, index)."""
    rng = np.random.default_rng([seed, index])
    return (offset + scale * (2.0 * rng.random(shape) - 1.0)).astype(np.float32)


def synth_state(golden) -> dict[str, np.ndarray]:
    """The reference's state_dict of a golden npz, regenerated: name -> float32 array."""
    meta = json.loads(str(golden["meta"]))
    names, shapes = meta["state_names"], meta["state_shapes"]
    scale, offset = golden["state_scale"], golden["state_offset"]
    return {n: synth_tensor(meta["weight_seed"], i, tuple(shapes[i]), float(scale[i]), float(offset[i]))
            for i, n in enumerate(names)}  # fmt: skip


def state_digest(state: dict[str, np.ndarray]) -> str:
    """SHA-256 over each tensor's name, shape and little-endian float32 bytes, in order."""
    h = hashlib.sha256()
    for name, value in state.items():
        arr = np.ascontiguousarray(value, dtype="<f4")
        h.update(f"{name}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance(repo: Path, files: list[str]) -> dict[str, Any]:
    """The checkout's commit and, for each file imported, its blob hash and whether it is the commit's."""
    commit = _git(repo, "rev-parse", "HEAD") or "unknown (not a git checkout)"
    out = {}
    for f in files:
        blob = _git(repo, "hash-object", f)
        at_commit = _git(repo, "rev-parse", f"HEAD:{f}")
        out[f] = {"blob": blob, "as_committed": bool(blob) and blob == at_commit}
    return {"commit": commit, "files": out}


def _use_deps(deps: str | None) -> None:
    if deps and Path(deps).is_dir() and deps not in sys.path:
        sys.path.insert(0, deps)


def _import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_rrt(repo: Path):
    """modules.rrt from the checkout (it imports modules.rmsa, datten, emb_position, nystrom_attention, timm)."""
    sys.path.insert(0, str(repo))
    try:
        return importlib.import_module("modules.rrt")
    except ModuleNotFoundError as exc:
        raise SystemExit(f"the reference needs {exc.name!r}: pip install --target /tmp/refdeps {exc.name}") from exc


def load_clam(repo: Path):
    """models/model_clam.py by path: models/__init__.py would pull in the encoder builders (timm, torchvision)."""
    return _import_file("clam_model_clam", repo / "models" / "model_clam.py")


def signature_defaults(*callables) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fn in callables:
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is not inspect.Parameter.empty and name not in out:
                out[name] = p.default
    return out


def run_case(model, seed: int, n_tiles: int, forward) -> dict[str, Any]:
    """Overwrite the reference's float tensors with the seeded stream, run it on a fixed bag (eval, CPU)."""
    import torch

    state = model.state_dict()
    names = list(state)
    if any(not torch.is_floating_point(state[n]) for n in names):
        raise SystemExit(
            f"non-float tensors in the state_dict: {[n for n in names if not state[n].is_floating_point()]}"
        )
    scale, offset, new = [], [], {}
    for i, n in enumerate(names):
        t = state[n].double()
        std = float(t.std()) if t.numel() > 1 else 0.0
        s = std * 3**0.5 if std > 0 else 0.1  # the spread of the reference's own init; constants get +-0.1
        o = float(t.mean()) if std == 0 else 0.0  # so LayerNorm weights stay about 1, zero biases about 0
        scale.append(s)
        offset.append(o)
        new[n] = torch.from_numpy(synth_tensor(seed, i, tuple(t.shape), s, o))
    model.load_state_dict(new, strict=True)
    model.eval()
    ran = {n: v.detach().numpy() for n, v in model.state_dict().items()}
    x = np.random.default_rng([seed, 1_000_003]).standard_normal((n_tiles, INPUT_DIM)).astype(np.float32)
    with torch.no_grad():
        logits, attention, extra = forward(model, torch.from_numpy(x))
    return {
        "x": x,
        "logits": logits.numpy().astype(np.float32),
        "attention": attention.numpy().astype(np.float32),
        **{k: v.numpy().astype(np.float32) for k, v in extra.items()},
        "state_scale": np.array(scale),
        "state_offset": np.array(offset),
        "_names": names,
        "_shapes": [list(state[n].shape) for n in names],
        "_digest": state_digest(ran),
    }


def write_case(out: Path, name: str, meta: dict[str, Any], result: dict[str, Any]) -> Path:
    meta = {**meta, "case": name, "state_names": result.pop("_names"), "state_shapes": result.pop("_shapes"),
            "state_sha256": result.pop("_digest")}  # fmt: skip
    path = out / f"{name}.npz"
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **result)
    return path


def make_rrt(repo: Path, out: Path) -> list[Path]:
    import torch

    ref = load_rrt(repo)
    prov = provenance(repo, ["modules/rrt.py", "modules/rmsa.py", "modules/datten.py", "modules/emb_position.py",
                             "modules/nystrom_attention.py"])  # fmt: skip
    defaults = signature_defaults(ref.RRTMIL.__init__, ref.RRTEncoder.__init__)
    defaults = {k: v for k, v in defaults.items() if isinstance(v, bool | int | float | str)}

    def forward(model, x):
        logits, attention = model(x.unsqueeze(0), return_attn=True)
        return logits, attention, {}

    paths = []
    for name, overrides, n_tiles, n_classes, seed in RRT_CASES:
        torch.manual_seed(seed)
        model = ref.RRTMIL(input_dim=INPUT_DIM, n_classes=n_classes, **overrides)
        result = run_case(model, seed, n_tiles, forward)
        meta = {"reference": REPOS["rrt"], **prov, "model": "modules.rrt.RRTMIL", "overrides": overrides,
                "reference_defaults": defaults, "input_dim": INPUT_DIM, "n_classes": n_classes, "n_tiles": n_tiles,
                "weight_seed": seed, "torch": torch.__version__, "numpy": np.__version__}  # fmt: skip
        paths.append(write_case(out, name, meta, result))
    write_readme(out, "rrt", prov, RRT_CASES, "modules/rrt.py `RRTMIL(input_dim=64, n_classes, **overrides)`")
    return paths


def make_abmil(repo: Path, out: Path) -> list[Path]:
    import torch

    ref = load_clam(repo)
    prov = provenance(repo, ["models/model_clam.py"])
    defaults = signature_defaults(ref.CLAM_SB.__init__)
    defaults = {k: v for k, v in defaults.items() if isinstance(v, bool | int | float | str)}

    def forward(model, x):
        logits, _prob, _hat, a_raw, _ = model(x)
        return logits, torch.softmax(a_raw, dim=1), {"attention_raw": a_raw}

    paths = []
    for name, overrides, n_tiles, n_classes, seed in ABMIL_CASES:
        torch.manual_seed(seed)
        model = ref.CLAM_SB(embed_dim=INPUT_DIM, n_classes=n_classes, **overrides)
        result = run_case(model, seed, n_tiles, forward)
        meta = {"reference": REPOS["abmil"], **prov, "model": "models.model_clam.CLAM_SB", "overrides": overrides,
                "reference_defaults": defaults, "input_dim": INPUT_DIM, "n_classes": n_classes, "n_tiles": n_tiles,
                "weight_seed": seed, "torch": torch.__version__, "numpy": np.__version__}  # fmt: skip
        paths.append(write_case(out, name, meta, result))
    write_readme(
        out, "abmil", prov, ABMIL_CASES, "models/model_clam.py `CLAM_SB(embed_dim=64, n_classes, **overrides)`"
    )
    return paths


def write_readme(out: Path, key: str, prov: dict[str, Any], cases, built: str) -> None:
    """Replace (or add) this subcommand's section of golden/README.md, leaving the others'."""
    files = "\n".join(
        f"  - `{f}` blob `{v['blob']}`{'' if v['as_committed'] else ' (CHANGED from the commit)'}"
        for f, v in prov["files"].items()
    )
    rows = "\n".join(f"| `{n}.npz` | `{json.dumps(o)}` | {t} | {c} | {s} |" for n, o, t, c, s in cases)
    block = (
        f"<!-- {key}:start -->\n## `{key}`: {REPOS[key]}\n\n"
        f"- commit `{prov['commit']}`\n- files imported:\n{files}\n- built: {built}, eval mode, CPU\n"
        f"- made by: `python tests/reference/make_golden.py {key} --repo <checkout>`\n\n"
        f"| file | overrides | tiles | classes | seed |\n|---|---|---|---|---|\n{rows}\n<!-- {key}:end -->\n"
    )
    readme = out / "README.md"
    text = readme.read_text() if readme.exists() else README_HEAD
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    readme.write_text(text)


README_HEAD = """# Golden files from the reference repositories

Made by `tests/reference/make_golden.py`, which imports each reference's model code from a checkout (never
copied here), runs it on CPU in eval mode and records its outputs; `tests/reference/test_mil.py` runs our
heads on the same inputs and weights. Each npz holds `meta` (JSON: reference, commit, imported files'
blobs, constructor overrides, the reference's signature defaults, seeds, versions), the bag `x`, the
reference's `logits` and softmaxed `attention` (CLAM also `attention_raw`), and the recipe of the weights
the reference ran with: names, shapes, `state_scale`/`state_offset` and the SHA-256 of their float32 bytes
(see make_golden.py: the tensors themselves would not fit the size budget).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name, what in (("rrt", "DearCaat/RRT-MIL"), ("abmil", "mahmoodlab/CLAM"), ("clam-mask", "mahmoodlab/CLAM")):
        p = sub.add_parser(name, help=f"golden files from a checkout of {what}")
        p.add_argument("--repo", required=True, help=f"path to a checkout of {what}")
        p.add_argument("--out", default=str(GOLDEN), help="output folder (default: tests/reference/golden)")
        p.add_argument("--deps", default="/tmp/refdeps", help="folder of the reference's extra packages")
    args = parser.parse_args(argv)
    repo, out = Path(args.repo).resolve(), Path(args.out)
    if not repo.is_dir():
        parser.error(f"--repo {repo}: no such folder")
    out.mkdir(parents=True, exist_ok=True)
    _use_deps(args.deps)
    if args.what == "clam-mask":
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        try:
            module = importlib.import_module("tests.reference.golden_clam_mask")
        except ModuleNotFoundError as exc:
            if exc.name != "tests.reference.golden_clam_mask":
                raise
            print("clam-mask: tests/reference/golden_clam_mask.py is not there (it provides main(repo, out_dir))",
                  file=sys.stderr)  # fmt: skip
            return 2
        module.main(str(repo), str(out))
        return 0
    paths = make_rrt(repo, out) if args.what == "rrt" else make_abmil(repo, out)
    for path in paths:
        print(f"{path}  {path.stat().st_size / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
