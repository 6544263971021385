"""Embed-flow throughput against a bare batched loop and a naive per-file loop, plus the warm rerun.

Prints ratios measured in this run (goals: flow/bare >= 0.95, rerun/first <= 0.03):
    .venv/bin/python bench/bench_embed.py --speakers 60 --utterances 4 --threads 1 --trials 3
Bare loop and flow run --trials times, interleaved; the best wall time and the least CPU time (this process
and its children: the ephemeral Prefect server) of each count. torch/BLAS threads are capped at --threads on
both sides (EMBEDFORGE_TORCH_THREADS, which build_encoder applies), so the ratio is not thread contention.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import cpu_seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bare_loop(files: list[Path], encoder: str, weights: str | None, batch_size: int) -> tuple[float, float]:
    """Same encoder, same files, same batch size: read -> preprocess -> encode, nothing else (wall, cpu)."""
    from embedforge.modalities.speech.audio import read_audio
    from embedforge.registry.encoders import build_encoder

    t0, c0 = time.perf_counter(), cpu_seconds()
    model = build_encoder(encoder, weights=weights)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        model.encode([model.preprocess(read_audio(f), str(f)) for f in chunk])
    return time.perf_counter() - t0, cpu_seconds() - c0


def naive_loop(files: list[Path], encoder: str, weights: str | None) -> float:
    """What a hand-written script does: one forward call per file."""
    from embedforge.modalities.speech.audio import read_audio
    from embedforge.registry.encoders import build_encoder

    t0 = time.perf_counter()
    model = build_encoder(encoder, weights=weights)
    for f in files:
        model.encode([model.preprocess(read_audio(f), str(f))])
    return time.perf_counter() - t0


def forget_models() -> None:
    """Empty the flow's per-process model cache, so the flow builds its model inside the timing, as bare does."""
    from embedforge.registry import cache

    cache._cached_encoder.cache_clear()


def flow_run(
    root: Path, table: Path, db: str, encoder: str, weights: str | None, batch_size: int, shard_size: int = 64
) -> tuple[float, float, dict]:
    """The embed flow into ``db`` (wall, cpu, summary)."""
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    params = EmbedParams(
        dataset=f"voxceleb:{root}",
        encoder=encoder,
        db=db,
        weights=weights,
        dataset_name="bench",
        options={"heightceleb": str(table)},
        shard_size=shard_size,
        batch_size=batch_size,
    )
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = run_embed(params)
    return time.perf_counter() - t0, cpu_seconds() - c0, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speakers", type=int, default=60)
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--encoder", default="speech/ge2e")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=64, help="items per shard task (EmbedParams default 64)")
    parser.add_argument("--trials", type=int, default=3, help="interleaved bare/flow runs; the best counts")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads on both sides")
    args = parser.parse_args()

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    os.environ["EMBEDFORGE_TORCH_THREADS"] = str(args.threads)  # build_encoder caps torch to it: bare and flow alike
    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    from prefect import flow

    from embedforge.modalities.speech.synth import make_voxceleb_dataset
    from embedforge.tasks.store import VectorStore

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EMBEDFORGE_HOME", tmp)
        root = Path(tmp) / "vox"
        table = make_voxceleb_dataset(root, args.speakers, args.utterances, seed=3, seconds=args.seconds)
        files = sorted(root.rglob("*.wav"))
        flow(lambda: None, name="warm-up")()  # the ephemeral Prefect API starts outside the timings
        naive_loop(files[:4], args.encoder, args.weights)  # imports and first-call costs outside too
        VectorStore(str(Path(tmp) / "scratch")).tables()  # the one-off LanceDB import (~2 s) as well
        flow_run(root, table, str(Path(tmp) / "warm-db"), args.encoder, args.weights, args.batch_size, args.shard_size)
        bare, flows = [], []
        for trial in range(args.trials):
            bare.append(bare_loop(files, args.encoder, args.weights, args.batch_size))
            forget_models()
            flows.append(
                flow_run(
                    root,
                    table,
                    str(Path(tmp) / f"db-{trial}"),
                    args.encoder,
                    args.weights,
                    args.batch_size,
                    args.shard_size,
                )
            )
        naive = naive_loop(files, args.encoder, args.weights)
        db = str(Path(tmp) / "db-0")
        warm, _, second = flow_run(root, table, db, args.encoder, args.weights, args.batch_size, args.shard_size)
    n = len(files)
    b, bc = min(w for w, _ in bare), min(c for _, c in bare)
    cold, fc = min(w for w, _, _ in flows), min(c for _, c, _ in flows)
    first = flows[0][2]
    print(
        f"\nfiles={n} x {args.seconds:.1f}s  encoder={args.encoder}  batch={args.batch_size}  "
        f"threads={args.threads}  shard={args.shard_size}"
    )
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end; best of {args.trials} interleaved trials")
    for i, ((bw, bcc), (fw, fcc, _)) in enumerate(zip(bare, flows)):
        print(f"trial {i}: bare {bw:7.2f} s wall {bcc:7.2f} s cpu | flow {fw:7.2f} s wall {fcc:7.2f} s cpu")
    print(f"bare batched loop : {b:7.2f} s  ({n / b:6.1f} files/s)  cpu {bc:7.2f} s")
    print(f"naive per-file    : {naive:7.2f} s  ({n / naive:6.1f} files/s)")
    print(
        f"embed flow (cold) : {cold:7.2f} s  ({n / cold:6.1f} files/s)  cpu {fc:7.2f} s  embedded={first['embedded']}"
    )
    print(f"embed flow (rerun): {warm:7.2f} s  embedded={second['embedded']} skipped={second['skipped']}")
    print(f"RATIO flow/bare throughput (wall) = {b / cold:.3f}  (goal >= 0.95)")
    print(f"RATIO flow/bare throughput (cpu)  = {bc / fc:.3f}  (goal >= 0.95)")
    print(f"RATIO rerun/first time            = {warm / cold:.3f}  (goal <= 0.03)")
    print(f"RATIO flow/naive throughput       = {naive / cold:.3f}")


if __name__ == "__main__":
    main()
