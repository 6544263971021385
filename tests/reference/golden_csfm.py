"""Golden CSFM embeddings from the reference repository's own code (guxiao0822/Cardiac-Sensing-FM), for test_cardiac.py.

    python tests/reference/golden_csfm.py --repo /path/Cardiac-Sensing-FM      # main(repo, out_dir)

CSFM lives only in a public repository (its weights are gated), so ``cardiac/csfm-base`` is our own
re-implementation (modalities/cardiac/network.py) loading the reference's checkpoint format. The reference is
not copied here: ``main`` imports ``network/model.py`` and ``utils/preprocess.py`` from the checkout given (they
need einops: ``pip install --target /tmp/refdeps einops``, put on sys.path when it exists) and does what the
repository's README does to extract features, starting from the input file:

1. read the file (numpy), the channel indices from its lead names (README: 0-11 the 12 ECG leads, 12 PPG);
2. ``preprocess_ecg(ecg, fs)`` / ``preprocess_ppg(ppg, fs)`` (utils/preprocess.py), concatenated;
3. ``model.mlp_head = nn.Identity(); features = model(signal[None], channels)`` in eval mode.

The model is the reference's ``CSFM`` class with CSFM's fixed signal layout (13 channels, 2500 samples, patch
25, dim_head 64) at a small width (``ARCH``; vocab_size small, the text branch is unused). Its float tensors
are overwritten, before it runs, by a seeded NumPy stream (make_golden.py's ``synth_tensor``, scaled to the
reference's own initialisation); the npz keeps their names, shapes, scales, offsets and SHA-256, so the test
regenerates the very checkpoint (``encoder.``-prefixed, as the README loads it) and proves it.

The inputs are neurokit2-simulated signals written once into tests/reference/golden/ (``csfm_*.csv``/``.npy``):
synthetic, so they may be committed, and the test reads exactly these files. Each is 10 s at 250 Hz, because
there the reference and ours agree on what the input is (shorter: the reference pads zeros into the model,
ours masks them; longer: the reference crops at random, ours takes the first 10 s; other rates: the reference
resamples with ``scipy.signal.resample``, ours with ``resample_poly``: deliberate, documented differences).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
GOLDEN_FILE = "csfm.npz"
RATE, SECONDS = 250, 10
WEIGHT_SEED = 41
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "PPG")  # README's indices
# CSFM(...) keyword arguments: the signal layout every CSFM variant has, a small width
ARCH = {
    "signal_size": 2500,
    "patch_size": 25,
    "text_len": 64,
    "num_classes": 1,
    "dim": 128,
    "depth": 2,
    "heads": 2,
    "mlp_dim": 256,
    "channels": 13,
    "dim_head": 64,
    "vocab_size": 64,
    "dropout": 0.1,
    "emb_dropout": 0.1,
    "pool": "cls",
}
# input file, what it holds
INPUTS = {
    "csfm_ii_ppg.csv": "lead II + PPG (a wearable pair), CSV with a header naming the leads",
    "csfm_12lead.npy": "a 12-lead ECG (unnamed .npy: the 12-lead default order)",
}


def simulate(name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The signals written into an input file: (channels, 2500) float32 and their lead names."""
    import neurokit2 as nk

    n = RATE * SECONDS
    if name == "csfm_ii_ppg.csv":
        ecg = nk.ecg_simulate(duration=SECONDS, sampling_rate=RATE, heart_rate=72, random_state=1)
        ppg = nk.ppg_simulate(duration=SECONDS, sampling_rate=RATE, heart_rate=72, random_state=2)
        return np.stack([ecg[:n], ppg[:n]]).astype(np.float32), ("II", "PPG")
    leads = nk.ecg_simulate(duration=SECONDS, sampling_rate=RATE, heart_rate=64, random_state=3, method="multileads")
    return leads.to_numpy()[:n].T.astype(np.float32), tuple(leads.columns)


def write_input(path: Path) -> None:
    x, leads = simulate(path.name)
    if path.suffix == ".npy":
        np.save(path, x)
        return
    rows = "\n".join(",".join(repr(float(v)) for v in col) for col in x.T)
    path.write_text(",".join(leads) + "\n" + rows + "\n")


def read_input(path: Path) -> tuple[np.ndarray, list[int]]:
    """The file as the reference's user reads it: (channels, time) and README channel indices."""
    if path.suffix == ".npy":
        x = np.load(path).astype(np.float64)
        return x, list(range(len(x)))  # 12 unnamed channels: the standard 12-lead order
    with open(path, newline="") as f:
        names = next(csv.reader(f))
    x = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).T
    return x, [LEADS.index(n) for n in names]


def _import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_features(model, preprocess, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """README's feature extraction on one file: preprocess per modality, concatenate, CLS vector."""
    import torch

    x, channels = read_input(path)
    ecg_rows = [i for i, c in enumerate(channels) if c != LEADS.index("PPG")]
    parts = []
    if ecg_rows:
        parts.append(preprocess.preprocess_ecg(x[ecg_rows], fs=RATE))
    if len(ecg_rows) < len(channels):
        parts.append(preprocess.preprocess_ppg(x[[channels.index(LEADS.index("PPG"))]], fs=RATE))
    order = [channels[i] for i in ecg_rows] + [c for c in channels if c == LEADS.index("PPG")]
    signal = np.concatenate(parts, axis=0).astype(np.float32)
    with torch.no_grad():
        features = model(torch.from_numpy(signal).unsqueeze(0), np.asarray(order))
    return features[0].numpy().astype(np.float32), signal


def checkpoint_state(meta: dict[str, Any], scale: np.ndarray, offset: np.ndarray) -> dict[str, np.ndarray]:
    """The reference model's state_dict of a golden npz, regenerated (name -> float32)."""
    from tests.reference.make_golden import synth_tensor

    names, shapes = meta["state_names"], meta["state_shapes"]
    return {n: synth_tensor(meta["weight_seed"], i, tuple(shapes[i]), float(scale[i]), float(offset[i]))
            for i, n in enumerate(names)}  # fmt: skip


def save_checkpoint(path: Path, state: dict[str, np.ndarray]) -> Path:
    """A flat ``.pth`` with ``encoder.``-prefixed keys, the layout the README's loading code expects."""
    import torch

    torch.save({f"encoder.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, path)
    return path


def main(repo: str, out_dir: str) -> None:
    """Run the reference CSFM from the checkout ``repo`` on every input file; write ``csfm.npz`` and the inputs."""
    import torch
    from torch import nn

    root = Path(repo).resolve()
    here = HERE.parents[1]
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    if Path("/tmp/refdeps").is_dir() and "/tmp/refdeps" not in sys.path:
        sys.path.append("/tmp/refdeps")
    from tests.reference.golden_clam_mask import _provenance, files_lines, write_readme_section
    from tests.reference.make_golden import state_digest, synth_tensor

    try:
        network = _import_file("csfm_reference_model", root / "network" / "model.py")
    except ModuleNotFoundError as exc:
        raise SystemExit(f"the reference needs {exc.name!r}: pip install --target /tmp/refdeps {exc.name}") from exc
    preprocess = _import_file("csfm_reference_preprocess", root / "utils" / "preprocess.py")

    torch.manual_seed(WEIGHT_SEED)
    model = network.CSFM(**ARCH)
    names = list(model.state_dict())
    scale, offset, state = [], [], {}
    for i, n in enumerate(names):
        t = model.state_dict()[n].double()
        std = float(t.std()) if t.numel() > 1 else 0.0
        s = std * 3**0.5 if std > 0 else 0.1
        o = float(t.mean()) if t.numel() > 1 and std == 0 else 0.0  # LayerNorm weights stay about 1
        scale.append(s)
        offset.append(o)
        state[n] = synth_tensor(WEIGHT_SEED, i, tuple(t.shape), s, o)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    model.mlp_head = nn.Identity()  # README: "Disable classification head"
    model.eval()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"state_scale": np.array(scale), "state_offset": np.array(offset)}
    cases = []
    for name in INPUTS:
        path = out / name
        write_input(path)
        features, signal = reference_features(model, preprocess, path)
        key = path.stem
        arrays[f"{key}_features"] = features
        arrays[f"{key}_preprocessed"] = signal.astype(np.float16)  # diagnostics only: where a difference starts
        cases.append({"file": name, "what": INPUTS[name], "channels": read_input(path)[1]})
        print(f"{name}: {len(cases[-1]['channels'])} channels -> {features.shape[0]}-d")
    meta = {
        "reference": "guxiao0822/Cardiac-Sensing-FM",
        **_provenance(root, ["network/model.py", "utils/preprocess.py"]),
        "model": "network/model.py CSFM(**arch); mlp_head = nn.Identity(); model(signal[None], channels)",
        "arch": ARCH,
        "weight_seed": WEIGHT_SEED,
        "state_names": names,
        "state_shapes": [list(state[n].shape) for n in names],
        "state_sha256": state_digest(state),
        "cases": cases,
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }
    path = out / GOLDEN_FILE
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    print(f"{path}  {path.stat().st_size / 1024:.1f} KiB  (CSFM {meta['commit']})")
    rows = "\n".join(f"| `{c['file']}` | {c['what']} | {c['channels']} |" for c in cases)
    write_readme_section(
        out,
        "csfm",
        f"## `csfm`: guxiao0822/Cardiac-Sensing-FM\n\n- commit `{meta['commit']}`\n- files imported:\n"
        f"{files_lines(meta)}\n- built: `CSFM(**{json.dumps(ARCH)})`, seeded weights (seed {WEIGHT_SEED}), eval, "
        f"CPU; features as the README extracts them (`mlp_head = nn.Identity()`)\n"
        f"- `{GOLDEN_FILE}`: the reference's features per input file (+ its preprocessed signal, float16, for "
        f"diagnostics) and the weights' recipe; the input files themselves sit beside it (synthetic, neurokit2)\n"
        f"- made by: `python tests/reference/golden_csfm.py --repo <checkout>`; checked by "
        f"tests/reference/test_cardiac.py\n\n| input file | what | README channel indices |\n|---|---|---|\n{rows}",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="path to a checkout of guxiao0822/Cardiac-Sensing-FM")
    parser.add_argument("--out", default=str(GOLDEN), help="output folder (default: tests/reference/golden)")
    args = parser.parse_args()
    main(args.repo, args.out)
