"""analyze and curate through the CLI on real MiniLM vectors of a planted corpus, the map opened in Chromium."""

import csv
import json
import random
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from embedforge.flows.cli import build_app
from tests.flows.test_cli import cli

SUBJECTS = {
    "sport": ["The striker", "Our goalkeeper", "The coach", "The home team", "A young sprinter", "The captain",
              "The referee", "The cyclist"],
    "cooking": ["The chef", "My grandmother", "This recipe", "The bakery", "A home cook", "The restaurant",
                "The pastry cook", "Our neighbour"],
    "finance": ["The central bank", "Investors", "The stock market", "The company", "Analysts", "The bond fund",
                "The treasury", "A hedge fund"],
}  # fmt: skip
PREDICATES = {
    "sport": ["scored twice in the final minutes", "won the championship match", "trained hard before the opener",
              "broke the national record on the track", "was substituted after a knee injury",
              "celebrated the victory with the fans", "lost the penalty shoot-out", "signed a new contract"],
    "cooking": ["simmers the tomato sauce for two hours", "kneads the bread dough until smooth",
                "roasts the vegetables with garlic", "serves a creamy mushroom risotto", "bakes chocolate cookies",
                "seasons the soup with fresh herbs", "grills the fish over charcoal", "whisks eggs for an omelette"],
    "finance": ["raised interest rates by a quarter point", "reported record quarterly earnings",
                "fell sharply after the inflation data", "expect dividends to grow", "sold shares amid recession fears",
                "cut its profit forecast", "bought government bonds", "hedged its currency exposure"],
}  # fmt: skip
WHEN = ["yesterday", "on Monday", "this week", "last year", "again", "today", "in March", "at dawn"]


def corpus(root, seed=0):
    """Three topics, a text per pair of predicates (28 each, no two alike); planted: 6 copies (case or spacing
    changed), 3 files moved to the wrong class, 2 gibberish files."""
    import itertools

    rng = random.Random(seed)
    texts = {}
    for topic in SUBJECTS:
        (root / topic).mkdir(parents=True)
        for i, pair in enumerate(itertools.combinations(PREDICATES[topic], 2)):
            subjects = rng.sample(SUBJECTS[topic], 2)
            text = " ".join(f"{s} {p} {rng.choice(WHEN)}." for s, p in zip(subjects, pair, strict=True))
            texts[(topic, f"{topic}{i:03d}.txt")] = text
    for (topic, name), text in texts.items():
        (root / topic / name).write_text(text)
    copies = {}
    for n, (topic, name) in enumerate(rng.sample(sorted(texts), 6)):
        copy = f"copy-{name}"
        (root / topic / copy).write_text(
            texts[(topic, name)].lower() if n % 2 else "  " + texts[(topic, name)] + "\n\n"
        )
        copies[f"{topic}/{copy}"] = f"{topic}/{name}"
    flips = []
    for topic, other in (("sport", "cooking"), ("cooking", "finance"), ("finance", "sport")):
        name = sorted(n for t, n in texts if t == topic)[-1]
        shutil.move(root / topic / name, root / other / name)
        flips.append(f"{other}/{name}")
    (root / "finance" / "odd1.txt").write_text("qzx vlorp wibble gronk 12 ## %% zzzt")
    (root / "sport" / "odd2.txt").write_text("黄色い 潜水艦 が 月 の 裏 に 住む")
    return copies, flips, ["finance/odd1.txt", "sport/odd2.txt"]


runner = CliRunner()


def run(*args: str):
    result = runner.invoke(build_app(), list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.exception, result.output[-2000:])
    return result.output


ENCODER = "text/all-minilm-l6-v2"


@pytest.fixture(scope="module")
def analysed(prefect_harness, tmp_path_factory):
    """The planted corpus embedded by the real MiniLM and analysed once through the CLI."""
    tmp = tmp_path_factory.mktemp("analyze")
    planted = corpus(tmp / "corpus")
    db, out = str(tmp / "db"), tmp / "out"
    embedded = cli(
        "embed", "--dataset", f"textfolder:{tmp / 'corpus'}", "--encoder", ENCODER, "--db", db, "--name", "news"
    )
    assert embedded.exit_code == 0, embedded.output[-3000:]
    printed = run("analyze", "--encoder", ENCODER, "--db", db, "--output", str(out))
    return tmp, db, out, planted, printed


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_planted_copies_flips_and_outliers_are_found(analysed):
    _, _, out, (copies, flips, odd), printed = analysed
    groups = {}
    for r in _rows(out / "duplicates.csv"):
        groups.setdefault(r["group"], set()).add(r["id"])
    found = {frozenset((a, b)) for g in groups.values() for a in g for b in g if a < b}
    planted = {frozenset(p) for p in copies.items()}
    assert len(found & planted) / len(planted) >= 0.95 and len(found & planted) / len(found) >= 0.95
    issues = [r["id"] for r in _rows(out / "label_issues.csv")]
    assert set(flips) <= set(issues[: max(1, len(issues) // 10)])  # ranked in the top tenth
    outliers = [r["id"] for r in _rows(out / "outliers.csv")]
    assert set(odd) <= set(outliers[: max(2, len(outliers) // 20)])  # in the top twentieth
    assert "duplicate groups: 6" in printed and "label issues" in printed


def test_a_copy_across_train_and_test_is_reported_as_a_leak(analysed):
    tmp, db, _, (copies, _, _), _ = analysed
    from embedforge.tasks.features import load_features

    feats = load_features(db, ENCODER)
    split = dict(zip(feats.ids, feats.split, strict=True))
    leaks = sum(split[a] != split[b] for a, b in copies.items())
    out = tmp / "out"
    quality = json.loads((out / "quality.json").read_text())
    assert quality["effective_rank"] > 1
    printed = run("analyze", "--encoder", ENCODER, "--db", db, "--output", str(out), "--what", "dups")
    assert "computed nothing" in printed  # same rows, same parameters: reused
    if leaks:
        assert f"LEAK: {leaks} duplicate groups span train and test" in printed
    else:
        assert "LEAK" not in printed


def test_the_run_is_in_mlflow_with_the_quality_metrics(analysed):
    import mlflow

    from embedforge.registry.settings import Settings

    mlflow.set_tracking_uri(Settings().mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["analysis"], filter_string=f"tags.encoder = '{ENCODER}'")
    assert len(runs) == 1  # the no-op rerun logged nothing
    assert runs.iloc[0]["metrics.quality_effective_rank"] > 1 and runs.iloc[0]["metrics.duplicate_groups"] == 6


def test_search_where_and_curate_round_trip(analysed):
    tmp, db, _, _, _ = analysed
    query = tmp / "q.txt"
    query.write_text("The chef bakes bread.")
    found = run(
        "search", "--encoder", ENCODER, "--db", db, "--query", str(query), "--where", "outlier < 0.5", "-k", "200"
    )
    assert "cooking/" in found and "odd1.txt" not in found
    manifest = tmp / "subset.csv"
    printed = run("curate", "--encoder", ENCODER, "--db", db, "--budget", "12", "--dedup", "--output", str(manifest))
    assert "picked 12 of" in printed and "6 duplicate copies dropped" in printed
    again = cli(
        "embed",
        "--dataset",
        f"textfolder:{tmp / 'corpus'}",
        "--encoder",
        ENCODER,
        "--db",
        str(tmp / "db2"),
        "-o",
        f"subset={manifest}",
    )  # fmt: skip  (a process of its own, as users run embed)
    assert again.exit_code == 0 and "embedded 12," in again.output, again.output[-3000:]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is installed by .ci/services")
def test_the_map_opens_offline_in_headless_chromium(analysed):
    from PIL import Image

    tmp, _, out, _, _ = analysed
    shot = tmp / "map-shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp / 'chromium'}", "--window-size=900,700", f"--screenshot={shot}",
         (out / "map.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    coloured = (pixels.max(axis=1) - pixels.min(axis=1)) > 60  # the points, not the white page or grey text
    assert coloured.mean() > 0.002 and len({tuple(p) for p in pixels[coloured][::7]}) >= 3  # several clusters


def test_analyze_mistakes_are_one_line_before_any_flow(arrays_dir, tmp_path):
    """An unknown encoder, no table for these weights, a dataset the table lacks: exit 2, one line, no traceback."""
    import os
    import subprocess
    import sys

    from embedforge.tasks.embed import embed_shard, plan_embedding

    data, db = arrays_dir, str(tmp_path / "db")
    plan = plan_embedding(dataset=f"arrays:{data}", encoder="test/tiny", db_uri=db, work_dir=str(tmp_path / "w"))
    for shard in plan.shards:
        embed_shard(shard_path=shard, encoder="test/tiny", db_uri=db)
    cases = [
        (["--encoder", "nosuch/enc"], "nosuch/enc"),
        (["--encoder", "test/tiny", "--weights", str(tmp_path)], "its tables here: test__tiny"),
        (["--encoder", "test/tiny", "--dataset", "nosuch"], "holds no dataset 'nosuch'"),
    ]
    env = dict(os.environ, COLUMNS="300", PREFECT_API_URL="http://127.0.0.1:9/api")
    for extra, expected in cases:
        out = subprocess.run([sys.executable, "-m", "embedforge.flows.cli", "analyze", "--db", db, *extra], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        text = out.stdout + out.stderr
        assert out.returncode == 2 and expected in text and "Traceback" not in text, text[-2000:]


def test_a_label_no_row_has_is_refused(tmp_path):
    import numpy as np
    import pytest

    from embedforge.tasks.analyze import Knobs, analyze
    from embedforge.tasks.store import VectorStore

    rows = [{"dataset": "d", "id": str(i), "uri": None, "content_hash": f"h{i}", "labels": {"label": i % 2},
             "split": "train", "group": None, "vector": v}
            for i, v in enumerate(np.random.default_rng(0).normal(size=(20, 8)))]  # fmt: skip
    VectorStore(str(tmp_path / "db")).upsert("test__tiny", {"name": "test/tiny", "dim": 8, "fingerprint": "f"}, rows)
    with pytest.raises(ValueError, match="no stored row has the label 'nosuch'; its labels: label"):
        analyze(str(tmp_path / "db"), "test/tiny", what=["labels"], knobs=Knobs(label="nosuch"))


def test_with_no_encoder_every_table_is_analysed_whatever_weights_made_it(tmp_path):
    """The weekly run: a table made with --weights is read off its recorded identity, not skipped."""
    from embedforge.flows.analyze import _tables
    from embedforge.flows.params import AnalyzeParams
    from embedforge.tasks.analysis_report import report
    from embedforge.tasks.store import VectorStore, table_name

    store = VectorStore(str(tmp_path / "db"))
    rows = [{"dataset": "d", "id": str(i), "uri": None, "content_hash": f"h{i}", "labels": {"label": i % 2},
             "split": "train" if i % 4 else "test", "group": None, "vector": v}
            for i, v in enumerate(np.random.default_rng(1).normal(size=(30, 8)))]  # fmt: skip
    fitted = table_name("test/tiny", "ucr:Somewhere")
    store.upsert(
        fitted, {"name": "test/tiny", "dim": 8, "fingerprint": "f", "weights": "fit:ucr:Somewhere#train"}, rows
    )
    tables, skipped = _tables(AnalyzeParams(), str(tmp_path / "db"))
    assert tables == [("test/tiny", fitted)] and skipped == []
    s = report(str(tmp_path / "db"), "test/tiny", what=["outliers"], table=fitted, output=str(tmp_path / "out"))
    assert s["table"] == fitted and s["rows"] == 30
