"""Golden MOMENT hidden states from the momentfm package itself, for test_timeseries.py.

    pip install --no-deps --target /tmp/refdeps momentfm==0.1.4
    python tests/reference/golden_moment.py --repo /tmp/refdeps     # a folder holding the momentfm package

momentfm pins transformers 4.33 and numpy 1.25, which clash with this project's, so it is not installed here
and ``timeseries/moment-small`` loads MOMENT with our own code (modalities/timeseries/moment.py). Installed
without its dependencies, momentfm 0.1.4 imports and runs with our transformers; ``main`` imports it from the
folder given, builds ``MOMENTPipeline`` from a checkpoint directory in MOMENT's hub layout (``config.json``
with ``t5_config`` inside + ``model.safetensors``; small T5, seq_len 512, patch 8) whose tensors come from a
seeded NumPy stream (make_golden.py's ``synth_tensor``, scaled to momentfm's own initialisation), and records,
for real UCR series from aeon, the reference's own tensors: every encoder layer's hidden states as momentfm's
``MOMENT.embed(x_enc, input_mask, reduction="none")`` computes them (its T5 encoder called with
``output_hidden_states=True``). What the reference is given is our documented input contract, restated here
with torch: a series of up to 512 steps is left-padded with zeros and masked (NaN steps masked too); a longer
one is gap-filled and resized to 512 with ``F.interpolate(mode="linear", align_corners=False)``.

The npz keeps the inputs (float32 series), the grids and masks given to momentfm, the hidden states
(tokens, layers, d_model), the weights' names, shapes, scales, offsets and SHA-256, and the config; the test
rebuilds the same checkpoint, runs ours from files holding the same series and restates the pooling recipe
(mean over the series' last tokens, L2 per layer, LayerNorm) on the reference's hidden states. Each series is
also given as its first differences (``_diff``), the first half of ``timeseries/moment-small-diff``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
GOLDEN_FILE = "moment_momentfm.npz"
WEIGHT_SEED = 31
SEQ_LEN, PATCH = 512, 8
T5_CONFIG = {
    "d_model": 32,
    "d_ff": 64,
    "d_kv": 16,
    "num_heads": 2,
    "num_layers": 2,
    "vocab_size": 32,
    "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu_new",
    "is_gated_act": True,
    "model_type": "t5",
    "layer_norm_epsilon": 1e-6,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
}
CONFIG = {
    "task_name": "reconstruction",
    "model_name": "MOMENT",
    "transformer_type": "encoder_only",
    "d_model": None,
    "seq_len": SEQ_LEN,
    "patch_len": PATCH,
    "patch_stride_len": PATCH,
    "device": "cpu",
    "transformer_backbone": "google/flan-t5-small",
    "model_kwargs": {},
    "t5_config": T5_CONFIG,
}
# aeon dataset, split, case; a NaN gap is cut into the last one (steps 40-54)
CASES: list[tuple[str, str, int]] = [
    ("GunPoint", "test", 0),
    ("GunPoint", "test", 1),
    ("ItalyPowerDemand", "test", 0),
    ("ItalyPowerDemand", "test", 5),
    ("ACSF1", "test", 0),  # 1460 steps: resized to 512
    ("GunPoint", "test", 2),  # with a gap
]
GAP = (40, 55)
SKIP_KEYS = ("patch_embedding.position_embedding.pe",)  # the fixed sinusoid: a buffer, not a weight


def case_series() -> list[tuple[str, np.ndarray]]:
    """(name, float32 1-D series) for every case, from the UCR sets aeon ships."""
    from aeon.datasets import load_classification

    out = []
    for k, (name, split, i) in enumerate(CASES):
        X, _ = load_classification(name, split=split)
        x = np.asarray(X[i, 0], dtype=np.float32)
        if k == len(CASES) - 1:
            x = x.copy()
            x[GAP[0] : GAP[1]] = np.nan
        out.append((f"{name.lower()}_{split}{i}{'_gap' if k == len(CASES) - 1 else ''}", x))
    return out


def grid(series: np.ndarray, seq_len: int = SEQ_LEN) -> tuple[np.ndarray, np.ndarray]:
    """Our input contract with torch: left-pad + mask up to seq_len steps, else fill gaps and resize (linear)."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(series, dtype=np.float32)
    if len(x) > seq_len:
        ok = ~np.isnan(x)
        filled = np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok]).astype(np.float32)
        resized = F.interpolate(torch.from_numpy(filled)[None, None], size=seq_len, mode="linear", align_corners=False)
        return resized[0, 0].numpy(), np.ones(seq_len, np.float32)
    pad = seq_len - len(x)
    mask = np.concatenate([np.zeros(pad, np.float32), (~np.isnan(x)).astype(np.float32)])
    return np.concatenate([np.zeros(pad, np.float32), x]), mask


def reference_hidden(model, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """momentfm's MOMENT.embed(reduction='none') with its T5 encoder asked for every layer: (tokens, layers, d)."""
    import torch

    captured: dict[str, Any] = {}
    forward = model.encoder.forward

    def with_hidden_states(*args, **kwargs):
        out = forward(*args, **{**kwargs, "output_hidden_states": True})
        captured["hidden"] = out.hidden_states
        return out

    model.encoder.forward = with_hidden_states
    try:
        with torch.no_grad():
            out = model.embed(
                x_enc=torch.from_numpy(x)[None, None], input_mask=torch.from_numpy(mask)[None], reduction="none"
            )
    finally:
        del model.encoder.forward  # the instance attribute goes; the class's forward is back
    layers = torch.stack(list(captured["hidden"][1:]), dim=2)[0]  # (tokens, layers, d)
    assert torch.allclose(layers[:, -1], out.embeddings[0, 0], atol=1e-6)  # last layer = embed's own output
    return layers.numpy().astype(np.float32)


def load_reference(weights_dir: str | Path):
    """MOMENTPipeline.from_pretrained on a local directory, as an embedding model (eval)."""
    from momentfm import MOMENTPipeline

    model = MOMENTPipeline.from_pretrained(str(weights_dir), model_kwargs={"task_name": "embedding"})
    model.init()
    return model.eval()


def write_checkpoint(root: Path, state: dict[str, np.ndarray], config: dict[str, Any]) -> Path:
    """MOMENT's hub layout: config.json (t5_config inside) + model.safetensors."""
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, str(root / "model.safetensors"),
              metadata={"format": "pt"})  # fmt: skip
    return root


def state_from_golden(meta: dict[str, Any], scale: np.ndarray, offset: np.ndarray) -> dict[str, np.ndarray]:
    from tests.reference.make_golden import synth_tensor

    names, shapes = meta["state_names"], meta["state_shapes"]
    return {n: synth_tensor(meta["weight_seed"], i, tuple(shapes[i]), float(scale[i]), float(offset[i]))
            for i, n in enumerate(names)}  # fmt: skip


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(repo: str, out_dir: str) -> None:
    """Run momentfm from ``repo`` (a folder holding the momentfm package) and write ``moment_momentfm.npz``."""
    import tempfile

    import torch

    root = Path(repo).resolve()
    here = HERE.parents[1]
    for p in (str(root), str(here)):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        import momentfm
        from momentfm import MOMENTPipeline
    except ModuleNotFoundError as exc:
        raise SystemExit(f"momentfm is not in {root}: pip install --no-deps --target {root} momentfm==0.1.4") from exc
    from tests.reference.make_golden import state_digest, synth_tensor

    torch.manual_seed(WEIGHT_SEED)
    init = MOMENTPipeline(config=json.loads(json.dumps(CONFIG)), model_kwargs={"task_name": "reconstruction"})
    names = [k for k in init.state_dict() if k not in SKIP_KEYS]
    scale, offset, state = [], [], {}
    for i, n in enumerate(names):
        t = init.state_dict()[n].double()
        std = float(t.std()) if t.numel() > 1 else 0.0
        s = std * 3**0.5 if std > 0 else 0.1
        o = float(t.mean()) if t.numel() > 1 and std == 0 else 0.0  # LayerNorm weights stay about 1
        scale.append(s)
        offset.append(o)
        state[n] = synth_tensor(WEIGHT_SEED, i, tuple(t.shape), s, o)
    package = Path(momentfm.__file__).parent
    files = ["models/moment.py", "models/layers/embed.py", "models/layers/revin.py", "utils/masking.py"]
    meta: dict[str, Any] = {
        "reference": "momentfm (PyPI) MOMENTPipeline / MOMENT.embed",
        "momentfm": getattr(momentfm, "__version__", None) or _dist_version("momentfm"),
        "files_sha256": {f: _file_sha(package / f) for f in files},
        "config": CONFIG,
        "weight_seed": WEIGHT_SEED,
        "state_names": names,
        "state_shapes": [list(state[n].shape) for n in names],
        "state_sha256": state_digest(state),
        "gap": list(GAP),
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "transformers": _dist_version("transformers"),
        },
    }
    arrays: dict[str, np.ndarray] = {"state_scale": np.array(scale), "state_offset": np.array(offset)}
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        model = load_reference(write_checkpoint(Path(tmp), state, CONFIG))
        loaded = model.state_dict()
        used = [n for n in names if not n.startswith("head.")]  # the reconstruction head is not built for embedding
        assert all(np.array_equal(loaded[n].numpy(), state[n]) for n in used), "momentfm did not load every tensor"
        for name, series in case_series():
            arrays[f"{name}_series"] = series
            for view, values in (("", series), ("_diff", np.diff(series))):  # the -diff encoder's first half
                x, mask = grid(values)
                arrays[f"{name}{view}_grid"] = x
                arrays[f"{name}{view}_mask"] = mask
                arrays[f"{name}{view}_hidden"] = reference_hidden(model, x, mask)
            cases.append(name)
    meta["cases"] = cases
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / GOLDEN_FILE
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    print(f"{path}  {path.stat().st_size / 1024:.1f} KiB  (momentfm {meta['momentfm']})")
    try:
        from tests.reference.golden_clam_mask import write_readme_section
    except ImportError:
        return
    rows = "\n".join(f"| `{c}` | {len(arrays[c + '_series'])} |" for c in cases)
    write_readme_section(
        out,
        "moment",
        f"## `moment`: momentfm {meta['momentfm']} (PyPI), `MOMENT.embed`\n\n"
        f"- momentfm files (SHA-256): "
        + ", ".join(f"`{f}` `{h[:12]}`" for f, h in meta["files_sha256"].items())
        + f"\n- `{GOLDEN_FILE}`: every encoder layer's hidden states (T5 `output_hidden_states`) for each series, "
        f"with the grid and mask momentfm was given; weights: seeded stream (seed {WEIGHT_SEED}), "
        f"T5 {T5_CONFIG['num_layers']} x {T5_CONFIG['d_model']}, seq_len {SEQ_LEN}, patch {PATCH}\n"
        f"- made by: `python tests/reference/golden_moment.py --repo <folder with momentfm>`; "
        f"checked by tests/reference/test_timeseries.py\n\n| case | steps |\n|---|---|\n{rows}",
    )


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a folder holding the momentfm package (pip --target)")
    parser.add_argument("--out", default=str(GOLDEN), help="output folder (default: tests/reference/golden)")
    args = parser.parse_args()
    main(args.repo, args.out)
