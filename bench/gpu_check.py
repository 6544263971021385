"""Every registered encoder on CPU and on CUDA with the same batch: items/s, ratio, parity and peak memory, one table.

Weights: the registry's own where its probe says they load here; otherwise random weights at the real shape
for encoders that have a builder below (TiRex, Chronos-Bolt, MOMENT, CSFM), a fit on GunPoint for MiniRocket; any
other encoder is listed as skipped with its probe's reason. CUDA rows are skipped cleanly without a GPU.
    .venv/bin/python bench/gpu_check.py --batch 64
    .venv/bin/python bench/gpu_check.py --encoders speech/ge2e,cardiac/csfm-base --batch 256 --cpu-batch 16
(the CPU reference encodes the first --cpu-batch items; parity compares those, items/s is per run)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_timeseries' random-weight writers


def synthetic_weights(name: str, root: Path) -> str | None:
    """Random weights at the real architecture for encoders whose weights are not on this machine."""
    base = name.removesuffix("-diff")
    if base == "timeseries/tirex":
        from bench_timeseries import random_tirex

        return random_tirex(root / "tirex", layers=12, d_model=512)
    if base == "timeseries/chronos-bolt-small":
        from bench_timeseries import random_chronos

        return random_chronos(root / "chronos", layers=6, d_model=512)
    if base == "timeseries/moment-small":
        from bench_moment import random_moment

        return random_moment(root / "moment")
    if base == "timeseries/minirocket":
        return "ucr:GunPoint"
    if base == "cardiac/csfm-base":
        import torch

        from embedforge.modalities.cardiac.network import CSFMConfig, CSFMSignalEncoder

        torch.manual_seed(0)
        path = root / "csfm" / "csfm-base.pth"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({f"encoder.{k}": v for k, v in CSFMSignalEncoder(CSFMConfig()).state_dict().items()}, path)
        return str(path)
    return None


def samples(modality: str, n: int):
    """A batch of raw samples of the modality, the same for every device."""
    rng = np.random.default_rng(0)
    if modality == "speech":
        from embedforge.modalities.base import Audio
        from embedforge.modalities.speech.synth import make_voice, synthesize

        voices = [make_voice(f"v{i}", "mf"[i % 2], 160.0 + 3 * i, rng) for i in range(8)]
        return [Audio(synthesize(voices[i % 8], 4.0, rng)[None], 16000) for i in range(n)]
    if modality == "timeseries":
        from embedforge.modalities.base import Series

        t = np.linspace(0, 20, 512)
        return [Series((np.sin(t * (1 + i % 7)) + 0.3 * rng.standard_normal(512)).astype(np.float32)) for i in range(n)]
    if modality == "cardiac":
        from embedforge.modalities.cardiac.signal import LEADS, WINDOW, CardiacInput

        mask = np.ones(len(LEADS), bool)
        return [
            CardiacInput(
                x=rng.standard_normal((len(LEADS), WINDOW)).astype(np.float32), channel_mask=mask, n_valid=WINDOW
            )
            for _ in range(n)
        ]
    return None


def run(name: str, weights: str | None, device: str, raw, options: dict) -> dict:
    """Build on ``device``, preprocess on the host, one warm-up call, then the timed encode of the batch."""
    import torch

    from embedforge.registry.encoders import build_encoder

    model = build_encoder(name, weights=weights, device=device, **options)
    t0 = time.perf_counter()
    inputs = raw if name.startswith("cardiac/") else [model.preprocess(s, f"item{i}") for i, s in enumerate(raw)]
    prep_s = time.perf_counter() - t0
    model.encode(inputs[:2])
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    vectors = np.asarray(model.encode(inputs), dtype=np.float32)
    if cuda:
        torch.cuda.synchronize()
    enc_s = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    backend = getattr(model, "backend", "")
    del model
    if cuda:
        torch.cuda.empty_cache()
    return dict(vectors=vectors, enc_s=enc_s, prep_s=prep_s, peak_mb=peak, backend=backend, n=len(raw))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--encoders", default="", help="comma-separated registry names (default: every one)")
    ap.add_argument("--cpu-batch", type=int, default=16, help="the CPU reference runs on the first N items")
    ap.add_argument("--threads", type=int, default=None, help="CPU torch threads (default: Settings.torch_threads)")
    args = ap.parse_args()
    import torch

    from embedforge.modalities.runtime import cosine_rows
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.encoders import ENCODERS

    if args.threads:
        os.environ["EMBEDFORGE_TORCH_THREADS"] = str(args.threads)
    load_catalog()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name(0) if "cuda" in devices else "none (CUDA rows skipped)"
    print(f"GPU: {gpu}; batch {args.batch}; CPU threads {os.environ.get('EMBEDFORGE_TORCH_THREADS', 'default')}")
    print(
        f"{'encoder':<34} {'device':<6} {'items/s':>9} {'prep items/s':>13} {'host share':>11} {'vs cpu':>7} "
        f"{'parity cos':>11} {'peak MB':>9}  backend / note"
    )
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    wanted = [n for n in args.encoders.split(",") if n] or list(ENCODERS)
    extra = [("cardiac/csfm-base", {"precision": "bf16"}), ("timeseries/moment-small", {"precision": "tf32"})]
    variants = [(n, {}) for n in wanted] + [(n, o) for n, o in extra if n in wanted] * ("cuda" in devices)
    for name, options in variants:
        entry = ENCODERS.get(name)
        reason = entry.probe()
        fitted = name.startswith("timeseries/minirocket")  # its "weights" are a training set, always given
        weights = synthetic_weights(name, root) if reason is not None or fitted else None
        raw = samples(entry.spec.modality, args.batch)
        label = name + ("".join(f" {k}={v}" for k, v in options.items()))
        if (reason is not None and weights is None) or raw is None:
            print(f"{label:<34} skipped: {reason or 'no synthetic batch for modality ' + entry.spec.modality}")
            continue
        ref = None
        for device in devices:
            try:  # bf16 / tf32 are GPU options: their reference is the float32 CPU run
                cpu = device == "cpu"
                batch = raw[: args.cpu_batch] if cpu else raw
                r = run(name, weights, device, batch, {} if cpu and "precision" in options else options)
            except Exception as exc:  # one encoder failing must not hide the others
                print(f"{label:<34} {device:<6} failed: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            ips, prep = r["n"] / r["enc_s"], r["n"] / max(r["prep_s"], 1e-9)
            share = r["prep_s"] / (r["prep_s"] + r["enc_s"])
            ratio = "" if ref is None else f"{ips / ref['ips']:.1f}x"
            same = None if ref is None else len(ref["vectors"])
            parity = "" if ref is None else f"{float(cosine_rows(r['vectors'][:same], ref['vectors']).min()):.6f}"
            note = r["backend"] + ("" if reason is None else " random weights")
            print(
                f"{label:<34} {device:<6} {ips:>9.1f} {prep:>13.1f} {share:>10.0%} {ratio:>7} {parity:>11} "
                f"{'-' if device == 'cpu' else format(r['peak_mb'], '.0f'):>9}  {note}",
                flush=True,
            )
            if ref is None:
                ref = dict(r, ips=ips)


if __name__ == "__main__":
    main()
