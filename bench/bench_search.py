"""Search as a user waits for it: a one-off CLI search, the warm query server, and a plain script, in one run.

The real all-MiniLM-L6-v2 (packaged weights) over a small text folder. Each row is the median of --trials
fresh processes (the warm request: of --requests calls in this process):
    .venv/bin/python bench/bench_search.py --trials 3

Goals (issue 20): a one-off ``embedforge search`` no slower than a plain script that loads the same model and
LanceDB (ratio <= 1.0 within noise); with ``search --serve`` running, a second query is milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fixed_costs import timed
from bench_text import ENCODER, write_corpus

ROOT = Path(__file__).resolve().parent.parent
QUERY = "music and film at night in the city"

# The plain script a user would write: load the model, embed the sentence, search the table LanceDB holds.
PLAIN = """
import sys, lancedb
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
vector = model.encode([sys.argv[3]], normalize_embeddings=True)[0]
table = lancedb.connect(sys.argv[2]).open_table(sys.argv[4])
print(table.search(vector).distance_type("cosine").limit(10).select(["id"]).to_list())
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(EMBEDFORGE_HOME=str(tmp / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="200")
    env.setdefault("EMBEDFORGE_TORCH_THREADS", "1")
    os.environ.update(env)
    cli = [sys.executable, "-m", "embedforge.flows.cli"]
    write_corpus(tmp / "docs", args.docs)
    db = str(tmp / "db")
    timed([*cli, "embed", "--dataset", f"textfolder:{tmp / 'docs'}", "--encoder", ENCODER, "--db", db], env)

    from embedforge.registry.encoders import build_encoder
    from embedforge.tasks.query_server import ask, find_server
    from embedforge.tasks.store import table_name

    folder = str(build_encoder(ENCODER).config.root)  # type: ignore[attr-defined]
    table = table_name(ENCODER)
    search = [*cli, "search", "--encoder", ENCODER, "--db", db, "--text", QUERY]
    plain = [sys.executable, "-c", PLAIN, folder, db, QUERY, table]
    rows = {}
    for name, cmd in (("plain script (baseline)", plain), ("embedforge search, one-off", search)):
        runs = [timed(cmd, env)[:2] for _ in range(args.trials)]
        rows[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    server = subprocess.Popen([*cli, "search", "--encoder", ENCODER, "--db", db, "--serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while (record := find_server(tmp / "home", db, table)) is None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the query server did not start")
            time.sleep(0.2)
        runs = [timed(search, env)[:2] for _ in range(args.trials)]
        rows["embedforge search, warm server"] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        ask(record, {"text": QUERY})
        lat = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            ask(record, {"text": QUERY})
            lat.append(time.perf_counter() - t0)
    finally:
        server.terminate()
        server.wait(30)
        subprocess.run([*cli, "server", "stop"], env=env, capture_output=True, timeout=120)
    base = rows["plain script (baseline)"][0]
    print(f"{args.docs} documents, {ENCODER}, query {QUERY!r}; medians of {args.trials} fresh processes")
    print(f"{'':>32} {'wall s':>7} {'cpu s':>7} {'wall / plain':>13}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:>32} {wall:>7.2f} {cpu:>7.2f} {wall / base:>13.2f}")
    p50 = statistics.median(lat) * 1000
    worst = max(lat) * 1000
    print(f"{'warm server, one request':>32} {p50:>7.1f} ms (median of {args.requests}, max {worst:.1f} ms)")


if __name__ == "__main__":
    main()
