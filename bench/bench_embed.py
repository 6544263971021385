"""Embed-flow throughput against a bare batched loop and a naive per-file loop, plus the warm rerun.

Prints ratios measured in this run (goals: flow/bare >= 0.95, rerun/first <= 0.03):
    .venv/bin/python bench/bench_embed.py --speakers 60 --utterances 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bare_loop(files: list[Path], encoder: str, weights: str | None, batch_size: int) -> float:
    """Same encoder, same files, same batch size: read -> preprocess -> encode, nothing else."""
    from embedforge.modalities.speech.audio import read_audio
    from embedforge.registry.encoders import build_encoder

    t0 = time.perf_counter()
    model = build_encoder(encoder, weights=weights)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        model.encode([model.preprocess(read_audio(f), str(f)) for f in chunk])
    return time.perf_counter() - t0


def naive_loop(files: list[Path], encoder: str, weights: str | None) -> float:
    """What a hand-written script does: one forward call per file."""
    from embedforge.modalities.speech.audio import read_audio
    from embedforge.registry.encoders import build_encoder

    t0 = time.perf_counter()
    model = build_encoder(encoder, weights=weights)
    for f in files:
        model.encode([model.preprocess(read_audio(f), str(f))])
    return time.perf_counter() - t0


def flow_run(
    root: Path, table: Path, db: str, encoder: str, weights: str | None, batch_size: int
) -> tuple[float, dict]:
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    params = EmbedParams(
        dataset=f"voxceleb:{root}",
        encoder=encoder,
        db=db,
        weights=weights,
        dataset_name="bench",
        options={"heightceleb": str(table)},
        shard_size=64,
        batch_size=batch_size,
    )
    t0 = time.perf_counter()
    summary = run_embed(params)
    return time.perf_counter() - t0, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speakers", type=int, default=60)
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--encoder", default="speech/ge2e")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

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
        bare = bare_loop(files, args.encoder, args.weights, args.batch_size)
        naive = naive_loop(files, args.encoder, args.weights)
        cold, first = flow_run(root, table, str(Path(tmp) / "db"), args.encoder, args.weights, args.batch_size)
        warm, second = flow_run(root, table, str(Path(tmp) / "db"), args.encoder, args.weights, args.batch_size)
    n = len(files)
    print(f"\nfiles={n} x {args.seconds:.1f}s  encoder={args.encoder}  batch={args.batch_size}")
    print(f"bare batched loop : {bare:7.2f} s  ({n / bare:6.1f} files/s)")
    print(f"naive per-file    : {naive:7.2f} s  ({n / naive:6.1f} files/s)")
    print(f"embed flow (cold) : {cold:7.2f} s  ({n / cold:6.1f} files/s)  embedded={first['embedded']}")
    print(f"embed flow (rerun): {warm:7.2f} s  embedded={second['embedded']} skipped={second['skipped']}")
    print(f"RATIO flow/bare throughput   = {bare / cold:.3f}  (goal >= 0.95)")
    print(f"RATIO rerun/first time       = {warm / cold:.3f}  (goal <= 0.03)")
    print(f"RATIO flow/naive throughput  = {naive / cold:.3f}")


if __name__ == "__main__":
    main()
