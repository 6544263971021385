"""Fixed costs of the CLI: each command's wall and CPU seconds against ``python -c "import lancedb"`` in this run.

Also the embed rerun with nothing to do against the first run (goal <= 0.2): the rerun plans against the
store and starts no Prefect server; and the next embed of new data in an existing home (the shared background
Prefect server, and --temporary-server) against a plain script that reads, encodes and appends to LanceDB.
The GE2E rows (``--speech``) time the next embed of new utterances against a plain resemblyzer script, also
after the background server's idle stop (it starts again on the home's database) and as a fresh home's first
command (goal <= 2x). Each row is the median of --trials fresh processes:
    .venv/bin/python bench/bench_fixed_costs.py --trials 3 --speech 24,240
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child and its children, output) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def median_of(cmd: list[str], env: dict[str, str], trials: int) -> tuple[float, float]:
    runs = [timed(cmd, env)[:2] for _ in range(trials)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


# What a user would write instead of `embedforge embed`: read the files, encode, append to a LanceDB table.
PLAIN = """
import sys, pathlib, numpy as np, lancedb
from tests.fakes import TinyEncoder
from embedforge.modalities.base import Series
model = TinyEncoder()
paths = sorted(pathlib.Path(sys.argv[1]).glob("*.npy"))
vectors = model.encode([model.preprocess(Series(np.load(p)), p.name) for p in paths])
db = lancedb.connect(sys.argv[2])
rows = [{"id": p.name, "vector": v} for p, v in zip(paths, vectors)]
(db.open_table("plain") if "plain" in db.table_names() else db.create_table("plain", rows[:1])).add(rows)
"""


# The plain resemblyzer script a user compares with `embedforge embed --encoder speech/ge2e`: one torch thread.
PLAIN_GE2E = """
import sys, pathlib, torch
torch.set_num_threads(1)
from resemblyzer import VoiceEncoder, preprocess_wav
encoder = VoiceEncoder("cpu", verbose=False)
vectors = [encoder.embed_utterance(preprocess_wav(p)) for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.wav"))]
print(len(vectors))
"""


def speech_rows(root: Path, cli: list[str], env: dict[str, str], files: int, trials: int) -> None:
    """Next ``embed`` of ``files`` new one-second utterances (GE2E) against the plain resemblyzer script."""
    from embedforge.modalities.speech.synth import make_voxceleb_dataset

    env = dict(env, EMBEDFORGE_TORCH_THREADS="1")
    db = str(root / f"speech-db-{files}")

    def fresh() -> tuple[Path, Path]:
        folder = root / f"voices-{files}-{next(_SEQ)}"
        table = make_voxceleb_dataset(folder, files // 4, 4, seed=next(_SEQ), seconds=1.0)
        return folder, table

    warm_folder, warm_table = fresh()  # the model's first load and the table's creation are not "next embed"
    embed = [*cli, "embed", "--encoder", "speech/ge2e", "--db", db]
    timed([*embed, "--dataset", f"voxceleb:{warm_folder}", "-o", f"heightceleb={warm_table}"], env)
    timed([sys.executable, "-c", PLAIN_GE2E, str(warm_folder)], env)  # numba's and the OS's caches, alike
    rows: dict[str, list[tuple[float, float]]] = {"plain resemblyzer script": [], "embedforge embed": []}
    for n in range(trials):  # interleaved: the machine's load falls on both alike
        folder, table = fresh()
        rows["plain resemblyzer script"].append(timed([sys.executable, "-c", PLAIN_GE2E, str(folder)], env)[:2])
        folder, table = fresh()
        rows["embedforge embed"].append(
            timed([*embed, "--dataset", f"voxceleb:{folder}", "-o", f"heightceleb={table}"], env)[:2]
        )
        # the same after the background server's idle stop (it starts again), and as a fresh home's first command
        timed([*cli, "server", "stop"], env)
        folder, table = fresh()
        rows.setdefault("embed, server restarts", []).append(
            timed([*embed, "--dataset", f"voxceleb:{folder}", "-o", f"heightceleb={table}"], env)[:2]
        )
        home = dict(env, EMBEDFORGE_HOME=str(root / f"fresh-home-{files}-{n}"))
        folder, table = fresh()
        rows.setdefault("embed, fresh home", []).append(
            timed([*embed, "--dataset", f"voxceleb:{folder}", "-o", f"heightceleb={table}"], home)[:2]
        )
        timed([*cli, "server", "stop"], home)
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in rows.items()}
    plain_wall, plain_cpu = med["plain resemblyzer script"]
    print(
        f"\nnext embed of {files} new 1 s utterances, GE2E, one torch thread (medians of {trials}; CPU: the command's,"
    )
    print("not its background server's):")
    for name, (wall, cpu) in med.items():
        print(f"{name:>28} {wall:>7.2f} {cpu:>7.2f} {wall / plain_wall:>13.2f} {cpu / plain_cpu:>12.2f}")


def new_data(root: Path, cmd_of, env: dict[str, str], trials: int) -> tuple[float, float]:
    """Median (wall, CPU) of ``cmd_of(folder)`` over fresh folders of new series: work to do every time."""
    runs = []
    for _ in range(trials):
        folder = fixture(root / f"new-{next(_SEQ)}", seed=1000 + next(_SEQ))
        runs.append(timed(cmd_of(folder), env)[:2])
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


_SEQ = iter(range(10**6))


def fixture(root: Path, seed: int = 0) -> Path:
    """24 small series in a folder the test plugin's ``arrays`` adapter reads."""
    data = root / "arrays"
    data.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(24):
        np.save(data / f"s{i:02d}.npy", rng.standard_normal(200).astype(np.float32))
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--speech", default="24", help="comma-separated file counts for the GE2E rows ('' skips them)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fixed-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(
        EMBEDFORGE_HOME=str(tmp / "home"),
        EMBEDFORGE_PLUGINS="tests.fakes",
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
    )
    cli = [sys.executable, "-m", "embedforge.flows.cli"]
    data, db = fixture(tmp), str(tmp / "db")
    embed = [*cli, "embed", "--dataset", f"arrays:{data}", "--encoder", "test/tiny", "--db", db, "--name", "a"]
    first_wall, first_cpu, _ = timed(embed, env)  # fresh data directory: the background Prefect server starts
    rows = {
        'python -c "import lancedb"': [sys.executable, "-c", "import lancedb"],
        "embedforge --help": [*cli, "--help"],
        "embedforge encoders": [*cli, "encoders"],
        "embedforge search": [*cli, "search", "--encoder", "test/tiny", "--query", str(data / "s03.npy"), "--db", db],
        "embed, nothing to do": embed,
    }
    results = {name: median_of(cmd, env, args.trials) for name, cmd in rows.items()}
    base_wall = results['python -c "import lancedb"'][0]
    print(f"{'command':>28} {'wall s':>7} {'cpu s':>7} {'wall / import lancedb':>22}")
    for name, (wall, cpu) in results.items():
        print(f"{name:>28} {wall:>7.2f} {cpu:>7.2f} {wall / base_wall:>22.2f}")
    embed_new = [*cli, "embed", "--encoder", "test/tiny", "--db", db, "--dataset"]
    temporary = [*cli, "--temporary-server", "embed", "--encoder", "test/tiny", "--db", db, "--dataset"]
    new = {
        "plain script (baseline)": new_data(tmp, lambda d: [sys.executable, "-c", PLAIN, str(d), db], env, args.trials),
        "embed new, shared server": new_data(tmp, lambda d: [*embed_new, f"arrays:{d}"], env, args.trials),
        "embed new, temporary server": new_data(tmp, lambda d: [*temporary, f"arrays:{d}"], env, args.trials),
    }
    print(f"\nnext embed of 24 new series in an existing home ({args.trials} fresh folders each, medians):")
    plain_wall, plain_cpu = new["plain script (baseline)"]
    print(f"{'':>28} {'wall s':>7} {'cpu s':>7} {'wall / plain':>13} {'cpu / plain':>12}")
    for name, (wall, cpu) in new.items():
        print(f"{name:>28} {wall:>7.2f} {cpu:>7.2f} {wall / plain_wall:>13.2f} {cpu / plain_cpu:>12.2f}")
    print("(CPU counts the command and its children: a temporary server's, not the shared server's)\n")
    wall, cpu = results["embed, nothing to do"]
    print(f"{'embed, first run':>28} {first_wall:>7.2f} {first_cpu:>7.2f}")
    print(
        f"rerun with nothing to do / first run: wall {wall / first_wall:.3f}, cpu {cpu / first_cpu:.3f} (goal <= 0.2)"
    )
    for files in [int(n) for n in args.speech.split(",") if n.strip()]:
        speech_rows(tmp, cli, env, files, args.trials)
    subprocess.run([*cli, "server", "stop"], env=env, capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
