"""MOMENT: encode items/s with pooling on the model's device vs the host-side pooling it replaced, same run.

Random weights at MOMENT-small's shape (flan-t5-small encoder: 8 layers, d_model 512, 6 heads; 512 steps in 8-step
patches) are written to a temp dir in MOMENT's own layout. Both sides run on the same encoder object and the
same series, interleaved, best of --trials (wall and CPU seconds each); torch gets --threads.
    .venv/bin/python bench/bench_moment.py --threads 1 --n 256
    .venv/bin/python bench/bench_moment.py --device cuda --n 2048 --threads 16
"before": rows grouped by equal length, at most 64 a forward, every layer's (n, tokens, layers, d) copied to numpy
and pooled row by row on the host. "after": the encoder's encode (rows x tokens budget, MOMENT mixing lengths in
one pass, pooling on the device, only (n, layers, d) copied back).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

T5_SMALL = {  # google/flan-t5-small's encoder, as in MOMENT-1-small's config.json
    "d_model": 512,
    "d_ff": 1024,
    "d_kv": 64,
    "num_heads": 6,
    "num_layers": 8,
    "vocab_size": 32128,
    "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu_new",
    "is_gated_act": True,
    "model_type": "t5",
    "layer_norm_epsilon": 1e-6,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
}


def random_moment(root: Path, layers: int = 8, d_model: int = 512, seed: int = 0) -> str:
    """``config.json`` (with ``t5_config``) + ``model.safetensors`` of a random MOMENT (no token embeddings)."""
    import torch
    from safetensors.torch import save_file
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5Stack

    t5 = dict(T5_SMALL, num_layers=layers, d_model=d_model, d_ff=2 * d_model)
    cfg = T5Config.from_dict(dict(t5))
    cfg.is_decoder, cfg.use_cache = False, False
    torch.manual_seed(seed)
    state = {f"encoder.{k}": v for k, v in T5Stack(cfg).state_dict().items() if "embed_tokens" not in k}
    state["patch_embedding.value_embedding.weight"] = torch.randn(d_model, 8) * 0.3
    state["patch_embedding.mask_embedding"] = torch.randn(d_model) * 0.1
    state["head.linear.weight"] = torch.randn(8, d_model) * 0.1
    state["head.linear.bias"] = torch.zeros(8)
    config = {"seq_len": 512, "patch_len": 8, "patch_stride_len": 8, "d_model": None, "t5_config": t5}
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in state.items()}, str(root / "model.safetensors"), metadata={"format": "pt"})
    return str(root)


def host_pooling(enc, inputs: list[np.ndarray], max_rows: int = 64) -> np.ndarray:
    """The recipe before: equal-length rows (<= 64) a forward, all layers to numpy, pooled row by row."""
    from embedforge.modalities.timeseries import pooling as pool

    rows = [(i, c, x[c]) for i, x in enumerate(inputs) for c in range(len(x))]
    by_len = defaultdict(list)
    for row in rows:
        by_len[len(row[2])].append(row)
    pooled = {}
    for length, group in by_len.items():
        for start in range(0, len(group), max_rows):
            chunk = group[start : start + max_rows]
            hidden = enc._hidden(np.stack([r[2] for r in chunk]))
            for (i, c, _), h in zip(chunk, hidden):
                layer = pool.select_layers(pool.pool_tokens(h, enc._n_tokens(length), enc.pooling), enc.layers)
                pooled[(i, c)] = pool.l2_normalize(layer.astype(np.float64))
    out = [pool.combine_channels([pooled[(i, c)] for c in range(len(x))]) for i, x in enumerate(inputs)]
    return np.stack(out).astype(np.float32)


def workloads(n: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Equal 512-step series (the GPU check's batch) and UCR-like mixed lengths (24 to 512 steps)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 20, 512)
    equal = [(np.sin(t * (1 + i % 7)) + 0.3 * rng.standard_normal(512)).astype(np.float32)[None] for i in range(n)]
    lengths = rng.integers(24, 513, n)
    mixed = [rng.standard_normal((1, int(k))).astype(np.float32) for k in lengths]
    return {"equal 512": equal, "mixed 24-512": mixed}


def timed(fn, inputs) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, vectors) of one call."""
    import torch

    c0, t0 = cpu_seconds(), time.perf_counter()
    out = fn(inputs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, cpu_seconds() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="series per workload")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default=None, help="a MOMENT directory (default: random weights, MOMENT-small shape)")
    args = ap.parse_args()
    import torch

    from embedforge.modalities.runtime import cosine_rows
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.encoders import build_encoder

    torch.set_num_threads(args.threads)
    load_catalog()
    weights = args.weights or random_moment(Path(tempfile.mkdtemp(prefix="moment-")) / "moment-small")
    enc = build_encoder("timeseries/moment-small", weights=weights, device=args.device)
    print(f"MOMENT {enc.n_layers} x {enc.d_model} on {args.device}, {args.threads} thread(s), load {os.getloadavg()}")
    print(
        f"{'workload':<14} {'before it/s':>11} {'after it/s':>11} {'wall ratio':>11} {'CPU-s ratio':>12} {'min cos':>9}"
    )
    for label, series in workloads(args.n).items():
        inputs = [enc.preprocess(s, f"s{i}") for i, s in enumerate(series)]
        enc.encode(inputs[:4]), host_pooling(enc, inputs[:4])  # warm-up
        before, after = [], []
        for _ in range(args.trials):  # interleaved so load changes hit both sides
            before.append(timed(lambda x: host_pooling(enc, x), inputs))
            after.append(timed(enc.encode, inputs))
        wall_b, wall_a = min(r[0] for r in before), min(r[0] for r in after)
        cpu_b, cpu_a = min(r[1] for r in before), min(r[1] for r in after)
        cos = float(cosine_rows(after[0][2], before[0][2]).min())
        diff = float(np.abs(after[0][2] - before[0][2]).max())
        print(
            f"{label:<14} {len(inputs) / wall_b:>11.1f} {len(inputs) / wall_a:>11.1f} {wall_b / wall_a:>10.2f}x "
            f"{cpu_b / max(cpu_a, 1e-9):>11.2f}x {cos:>9.6f} {diff:>10.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
