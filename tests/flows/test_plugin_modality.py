"""A complete modality from a plugin alone: an installed distribution's ``embedforge.plugins`` entry point adds
the ``toy`` modality (sample type, adapter, query reader, raw-input decoder, encoder) and every command works on it.

The plugin lives in ``tests/plugin_modality/toyplugin``; the test "installs" it as a real distribution by copying
it beside a ``toyplugin-0.1.dist-info`` (METADATA + entry_points.txt) in a folder on PYTHONPATH, so discovery goes
through ``importlib.metadata``; nothing in embedforge names it.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

PLUGIN_SRC = Path(__file__).parents[1] / "plugin_modality"
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site folder holding the toy plugin package and its dist-info with the entry point."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN_SRC / "toyplugin", root / "toyplugin")
    info = root / "toyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[embedforge.plugins]\ntoy = toyplugin:register\n")
    return root


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    """24 toy files: kind a/b shifts the values, size scales them; 16 train, 8 test."""
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("toys")
    lines = ["id,kind,size,split"]
    for i in range(24):
        kind, size = "ab"[i % 2], 1.0 + 0.25 * (i % 7)
        values = rng.standard_normal(40) * size + (3.0 if kind == "b" else 0.0)
        (root / f"t{i:02d}.toy").write_text("toy v1\n" + " ".join(f"{v:.6f}" for v in values) + "\n")
        lines.append(f"t{i:02d}.toy,{kind},{size},{'train' if i < 16 else 'test'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def run(args: list[str], site: Path | None, timeout: int = 600) -> SimpleNamespace:
    """A subprocess with the session's Prefect API, the plugin's site folder on PYTHONPATH when given."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value() or "", COLUMNS="200")
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (site, REPO) if p)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    return SimpleNamespace(exit_code=done.returncode, output=done.stdout + done.stderr, stdout=done.stdout)


def cli(*args: str, site: Path | None) -> SimpleNamespace:
    return run([sys.executable, "-m", "embedforge.flows.cli", *args], site)


def test_the_entry_point_alone_adds_the_modality(site):
    without = cli("modalities", site=None)
    assert without.exit_code == 0 and "toyfolder" not in without.output, without.output
    listed = cli("modalities", site=site)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "toyfolder" in line)
    assert "toy" in row and "Toy" in row and ".toy" in row and "regress/ridge" in row


@pytest.mark.slow
def test_embed_search_benchmark_and_serve_a_plugin_modality(prefect_harness, site, toy_dir, tmp_path):
    db, tracking = str(tmp_path / "db"), f"sqlite:///{tmp_path}/ml.db"
    (toy_dir / "zz-broken.toy").write_text("not a toy\n")
    try:
        out = cli("embed", "--dataset", f"toyfolder:{toy_dir}", "--encoder", "toy/stats", "--db", db, "--name", "toy",
                  site=site)  # fmt: skip
    finally:
        (toy_dir / "zz-broken.toy").unlink()
    assert out.exit_code == 0, out.output
    assert "embedded 24" in out.output and "failed 1" in out.output and "zz-broken.toy" in out.output, out.output

    found = cli("search", "--encoder", "toy/stats", "--query", str(toy_dir / "t05.toy"), "-k", "3", "--db", db,
                site=site)  # fmt: skip
    assert found.exit_code == 0, found.output
    first = next(line for line in found.output.splitlines() if line.strip().startswith("│ 1 "))
    assert "t05.toy" in first and "0.0000" in first and "kind=b" in first, found.output

    listed = cli("train", "recipes", site=site)
    assert listed.exit_code == 0 and "toy/centroids" in listed.output and "speech/heightceleb" in listed.output
    trained = cli("train", "recipe", "toy/centroids", "-o", f"db={db}", "-o", f"tracking_uri={tracking}",
                  "-o", "label=kind", site=site)  # fmt: skip
    assert trained.exit_code == 0, trained.output
    import mlflow

    mlflow.set_tracking_uri(tracking)
    (recipe_run,) = mlflow.search_runs(experiment_names=["toy-recipes"], output_format="list")
    assert recipe_run.data.metrics["n_test"] == 8 and recipe_run.data.metrics["test_accuracy"] >= 0.75
    assert f"{recipe_run.data.metrics['test_accuracy']:.3f}" in trained.output  # the CLI's metrics table
    wrong = cli("train", "recipe", "toy/centroids", "-o", "colour=red", site=site)
    assert wrong.exit_code == 2 and "toy/centroids: colour: Extra inputs are not permitted" in wrong.output

    board = tmp_path / "board.csv"
    bench = cli("benchmark", "toy", "--encoders", "toy/stats", "--datasets", str(toy_dir), "--label", "kind",
                "--target", "size", "--db", db, "--tracking-uri", tracking, "--output", str(board),
                site=site)  # fmt: skip
    assert bench.exit_code == 0, bench.output
    with open(board) as f:
        rows = {r["head"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"classify/logreg", "regress/ridge"}  # the modality's own default heads
    assert rows["classify/logreg"]["task"] == "classification" and float(rows["classify/logreg"]["accuracy"]) >= 0.75
    assert rows["regress/ridge"]["task"] == "regression" and rows["regress/ridge"]["label"] == "size"
    assert float(rows["regress/ridge"]["r2"]) > 0.5 and rows["regress/ridge"]["accuracy"] == ""

    served = run([sys.executable, str(PLUGIN_SRC / "serve_toy.py"), db, tracking, str(toy_dir / "t21.toy")], site)
    assert served.exit_code == 0, served.output
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert len(result["served"]) == 2 and result["served"][0] == result["served"][1]
    assert result["served"][0]["kind"] == result["stored"][0]["kind"] == "b"
    assert abs(result["served"][0]["size"] - result["stored"][0]["size"]) < 1e-4
