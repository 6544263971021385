"""analyze over a real LanceDB table: columns written beside it, reruns recompute nothing, --where, curate."""

import csv
import json

import numpy as np
import pytest

from embedforge.registry.datasets import open_dataset
from embedforge.tasks.analysis_report import report
from embedforge.tasks.analysis_table import analysis_table
from embedforge.tasks.analyze import Knobs, analyze
from embedforge.tasks.curate import curate
from embedforge.tasks.search import row_filter
from embedforge.tasks.store import VectorStore
from tests.tasks.test_analyses import planted

IDENTITY = {"name": "test/tiny", "dim": 48, "fingerprint": "f"}
TABLE = "test__tiny"


def _store(db, X, labels, splits=None, dataset="toy"):
    rows = [
        {"dataset": dataset, "id": f"item{i:04d}", "uri": None, "content_hash": f"h{i}", "labels": {"label": lab},
         "split": (splits or ["train" if i % 4 else "test" for i in range(len(X))])[i], "group": None, "vector": x}
        for i, (x, lab) in enumerate(zip(X, labels, strict=True))
    ]  # fmt: skip
    VectorStore(db).upsert(TABLE, IDENTITY, rows)


@pytest.fixture
def db(tmp_path):
    X, labels, pairs, flips, far = planted(n=600)
    uri = str(tmp_path / "db")
    _store(uri, X, labels)
    return uri, pairs, flips, far


FAST = Knobs(map="pca")


def test_columns_land_beside_the_table_and_a_rerun_recomputes_nothing(db):
    uri, *_ = db
    first = analyze(uri, "test/tiny", knobs=FAST)
    assert first.computed == ["dups", "clusters", "outliers", "labels", "map", "quality"] and not first.reused
    store = VectorStore(uri)
    stored = store.opened(analysis_table(TABLE)).to_arrow()
    assert stored.num_rows == 655 and {"cluster", "outlier", "dup_group", "label_issue", "map_x"} <= set(
        stored.column_names
    )
    assert store.tables() == [TABLE]  # the analysis table is not a vector table
    again = analyze(uri, "test/tiny", knobs=FAST)
    assert again.computed == [] and again.version == first.version
    assert np.array_equal(again.columns["cluster"], first.columns["cluster"])
    other = analyze(uri, "test/tiny", knobs=Knobs(map="pca", threshold=0.9))
    assert other.computed == ["dups"]  # only the analysis whose parameters changed
    assert np.array_equal(other.columns["outlier"], first.columns["outlier"])


def test_new_rows_make_every_analysis_stale(db):
    uri, *_ = db
    analyze(uri, "test/tiny", what=["outliers", "clusters"], knobs=FAST)
    _store(uri, np.random.default_rng(5).normal(size=(3, 48)), ["0", "1", "2"], dataset="more")
    again = analyze(uri, "test/tiny", what=["outliers"], knobs=FAST)
    assert again.computed == ["outliers"] and len(again.features.ids) == 658
    new = np.array([d == "more" for d in again.features.datasets])
    clusters = again.columns["cluster"]
    assert all(c is None for c in clusters[new]) and all(c is not None for c in clusters[~new])  # each row's own
    assert analyze(uri, "test/tiny", what=["clusters"], knobs=FAST).computed == ["clusters"]  # not reused: stale


def test_an_analysis_of_one_dataset_keeps_every_other_rows_answers(db):
    """A scoped run updates its rows; the other datasets' stored answers are carried over, never dropped."""
    uri, *_ = db
    _store(uri, np.random.default_rng(6).normal(size=(5, 48)), [str(i) for i in range(5)], dataset="more")
    whole = analyze(uri, "test/tiny", what=["outliers", "clusters"], knobs=FAST)
    scoped = analyze(uri, "test/tiny", dataset="more", what=["outliers"], knobs=FAST)
    assert scoped.computed == ["outliers"] and len(scoped.features.ids) == 5
    after = analyze(uri, "test/tiny", what=["clusters"], knobs=FAST)
    assert after.reused == ["clusters"] and len(after.features.ids) == len(whole.features.ids)
    assert np.array_equal(np.asarray(after.columns["cluster"], float), np.asarray(whole.columns["cluster"], float))
    others = np.array([d != "more" for d in after.features.datasets])
    assert np.allclose(after.columns["outlier"][others], whole.columns["outlier"][others])  # kept, not recomputed


def test_search_where_filters_on_the_analysis_columns(db):
    uri, *_ = db
    a = analyze(uri, "test/tiny", what=["clusters", "outliers"], knobs=FAST)
    store = VectorStore(uri)
    where = row_filter(store, TABLE, None, "cluster = 0 AND outlier < 0.9")
    hits = store.search(TABLE, a.features.X[0], k=700, where=where)
    expect = {a.features.ids[i] for i in range(655) if a.columns["cluster"][i] == 0 and a.columns["outlier"][i] < 0.9}
    assert {h["id"] for h in hits} == expect and expect
    with pytest.raises(ValueError, match="no_such_column"):
        row_filter(store, TABLE, None, "no_such_column = 1")
    _store(uri, np.random.default_rng(7).normal(size=(2, 48)), ["x", "y"], dataset="later")  # never analysed
    plain = store.search(TABLE, a.features.X[0], k=700, where=row_filter(store, TABLE, "later", "id = 'item0001'"))
    assert [h["id"] for h in plain] == ["item0001"]  # a filter on the table's own columns needs no analysis row


def test_report_writes_the_files_and_names_the_leaks(db, tmp_path):
    uri, pairs, flips, _ = db
    s = report(uri, "test/tiny", knobs={"map": "pca", "threshold": 0.97}, output=str(tmp_path / "out"))
    out = tmp_path / "out"
    assert set(s["files"]) >= {"duplicates.csv", "clusters.csv", "outliers.csv", "label_issues.csv", "quality.json",
                               "map.html", "map.png"}  # fmt: skip
    with open(out / "duplicates.csv") as fh:
        dups = list(csv.DictReader(fh))
    assert list(dups[0]) == ["group", "dataset", "id", "representative", "score"]
    assert len({r["group"] for r in dups}) == len(pairs) == s["duplicates"]["groups"]
    splits = {f"item{i:04d}": "train" if i % 4 else "test" for i in range(655)}
    leaking = {g for g in {r["group"] for r in dups} if len({splits[r["id"]] for r in dups if r["group"] == g}) == 2}
    assert s["duplicates"]["leaking_groups"] == len(leaking) > 0
    with open(out / "label_issues.csv") as fh:
        worst = [r["id"] for r in csv.DictReader(fh)][: 655 // 10]
    assert len({f"item{i:04d}" for i in flips} & set(worst)) >= 0.9 * len(flips)
    assert set(json.loads((out / "quality.json").read_text())) == {
        "effective_rank", "isotropy_mean_cosine", "isotropy_mean_cosine_whitened", "hubness_skew",
        "intrinsic_dimension"}  # fmt: skip
    assert 'const POINTS = [{"x":' in (out / "map.html").read_text()


def test_curate_writes_a_manifest_that_an_adapter_takes_back(db, tmp_path, arrays_dir):
    uri, *_ = db
    out = curate(uri, "test/tiny", budget=20, output=str(tmp_path / "subset.csv"), dedup=True, threshold=0.97)
    assert out["picked"] == 20 and out["dropped_duplicates"] == 40
    with open(tmp_path / "subset.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, 21)] and len({r["id"] for r in rows}) == 20

    manifest = tmp_path / "arrays.csv"
    manifest.write_text("dataset,id\narrays,s01.npy\narrays,s05.npy\n")
    ds = open_dataset(f"arrays:{arrays_dir}", subset=str(manifest))
    assert [it.id for it in ds.items()] == ["s01.npy", "s05.npy"]
    manifest.write_text("dataset,id\narrays,nothing.npy\n")
    with pytest.raises(ValueError, match="names none of this dataset's items"):
        open_dataset(f"arrays:{arrays_dir}", subset=str(manifest)).items()


def test_the_leaderboard_shows_the_analysed_space_beside_the_scores(db, tmp_path):
    from embedforge.tasks.leaderboard import publish

    uri, *_ = db
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    s = report(uri, "test/tiny", what=["quality"], output=str(tmp_path / "out"), tracking_uri=tracking)
    row = {"encoder": "test/tiny", "augmentation": "none", "head": "classify/logreg", "dataset": "toy",
           "task": "classification", "label": "label", "accuracy": 0.9, "macro_f1": 0.9, "auc": 0.95}  # fmt: skip
    out = publish(rows=[row, dict(row, encoder="test/other")], tracking_uri=tracking, experiment="lb",
                  output_csv=None)  # fmt: skip
    assert set(out["quality"]) == {"test/tiny"}  # never analysed: left out, not invented
    q = out["quality"]["test/tiny"]
    assert q["effective rank"] == pytest.approx(s["quality"]["effective_rank"], rel=1e-6)
    assert "embedding space" in out["markdown"] and "| test/tiny | " in out["markdown"]
