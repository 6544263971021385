"""Half-made tables, healed duplicates, unambiguous keys and quoted filters (real LanceDB and MLflow)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from embedforge.tasks.embed import dataset_name_for, embed_shard, plan_embedding
from embedforge.tasks.filters import UnsafeName, check_name, mlflow_str, sql_in, sql_str
from embedforge.tasks.schema import FAILURES_TABLE
from embedforge.tasks.search import search_file
from embedforge.tasks.store import VectorStore

IDENT = {"name": "test/tiny", "dim": 4, "fingerprint": "f1", "weights": "w", "input": {}}


def _row(dataset: str, item_id: str, tag: str = "") -> dict:
    return dict(
        dataset=dataset, id=item_id, uri=f"/x/{item_id}", content_hash=f"h-{item_id}{tag}", split="train", group="g",
        labels={}, vector=np.ones(4, dtype=np.float32),
    )  # fmt: skip


@pytest.mark.parametrize("leftover", [[], ["_transactions/.tmpAimJUf"]], ids=["empty", "temp-file"])
def test_half_made_tables_read_as_absent_and_are_rebuilt(tmp_path, leftover):
    """The folders a kill -9 during the first create_table left behind (seen in random-kill trials)."""
    db = tmp_path / "db"
    for table in ("t", FAILURES_TABLE):
        (db / f"{table}.lance" / "_transactions").mkdir(parents=True)
        for name in leftover:
            (db / f"{table}.lance" / name).write_text("")
    store = VectorStore(str(db))
    assert not store.has("t") and store.tables() == [] and store.known("t", "d") == {} and store.count("t") == 0
    assert store.failures() == []
    store.upsert("t", IDENT, [_row("d", "a"), _row("d", "b")])
    store.record_failures("t", "d", [{"id": "c", "error": "c: bad"}])
    assert store.known("t", "d") == {"a": "h-a", "b": "h-b"} and store.tables() == ["t"]
    assert [f["id"] for f in store.failures("t", "d")] == ["c"]


def _add_raw(store: VectorStore, rows: list[dict], at: datetime) -> None:
    """Rows appended past merge_insert, as two unprotected writers used to leave them."""
    tbl = store.ensure_table("t", IDENT)
    data = store._arrow_rows(rows, tbl.schema)
    tbl.add(
        data.set_column(
            data.schema.get_field_index("embedded_at"),
            "embedded_at",
            pa.array([at] * len(rows), type=data.schema.field("embedded_at").type),
        )
    )


def test_duplicates_are_healed_keeping_the_newest_row(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    now = datetime.now(UTC)
    _add_raw(store, [_row("d", f"i{i}", "-old") for i in range(6)], now - timedelta(hours=1))
    _add_raw(store, [_row("d", f"i{i}", "-new") for i in range(3)], now)
    _add_raw(store, [_row("e", "i0", "-other")], now)  # same id, another dataset: not a duplicate
    assert store.count("t") == 10
    known = store.known("t", "d")  # what a rerun's plan asks first
    assert known == {**{f"i{i}": f"h-i{i}-new" for i in range(3)}, **{f"i{i}": f"h-i{i}-old" for i in range(3, 6)}}
    assert store.count("t") == 7
    _add_raw(store, [_row("d", "i4", "-stale")], now - timedelta(days=1))
    store.upsert("t", IDENT, [_row("d", "i4", "-fresh")])  # a write over a doubled key heals it too
    assert store.known("t", "d", ["i4"]) == {"i4": "h-i4-fresh"} and store.count("t") == 7


def test_keys_do_not_collide_across_dataset_and_id(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, [_row("a::b", "c"), _row("a", "b::c")])
    assert store.count("t") == 2
    assert store.known("t", "a::b") == {"c": "h-c"} and store.known("t", "a", ["b::c"]) == {"b::c": "h-b::c"}
    store.record_failures("t", "a::b", [{"id": "c", "error": "one"}])
    store.record_failures("t", "a", [{"id": "b::c", "error": "two"}])
    assert sorted(f["error"] for f in store.failures("t")) == ["one", "two"]
    store.clear_failures("t", "a", ["b::c"])
    assert [f["error"] for f in store.failures("t")] == ["one"]


def test_filter_values_cannot_escape_their_quotes(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, [_row("d", "x"), _row("O'Brien", "it's"), _row("x'", "y")])
    assert store.rows("t", "nope' OR '1'='1").num_rows == 0
    assert store.rows("t", "x'")["id"].to_pylist() == ["y"]
    assert (
        store.known("t", "O'Brien") == {"it's": "h-it's"} == store.known("t", "O'Brien", ["it's", "nope') OR ('1'='1"])
    )
    store.record_failures("t", "O'Brien", [{"id": "b'ad", "error": "e"}])
    assert [f["id"] for f in store.failures("t", "O'Brien")] == ["b'ad"]
    assert sql_str("a'b") == "'a''b'" and sql_in("k", []) == "false"
    with pytest.raises(UnsafeName):
        sql_str("a\x00b")


def test_search_dataset_filter_is_a_value_not_sql(arrays_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(
        dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=work, dataset_name="a"
    )
    for path in plan.shards:
        embed_shard(shard_path=path, encoder="test/tiny", db_uri=db)
    query = str(arrays_dir / "s01.npy")
    search = lambda dataset: search_file(db_uri=db, encoder="test/tiny", path=query, k=5, dataset=dataset)
    assert len(search("a")) == 5
    assert search("nope' OR '1'='1") == [] and search("x'") == []


def test_names_checked_at_the_edge():
    assert check_name("O'Brien") == "O'Brien" and check_name('say "hi"') == 'say "hi"'
    assert dataset_name_for("arrays:/data/O'Brien/", None) == "arrays-O'Brien"
    for bad in ["", "a\nb", "tab\there", "esc\x1b[31m", "both ' and \"", "back\\slash"]:
        with pytest.raises(UnsafeName, match="dataset name"):
            check_name(bad)
    with pytest.raises(UnsafeName, match="control characters"):
        dataset_name_for("arrays:/data/bad\rname", None)


@pytest.mark.parametrize("value", ["O'Brien", 'say "hi"', "nope' and params.x = 'y", "a b%_*", "--", "é"])
def test_mlflow_values_read_back_exactly(value):
    from mlflow.utils.search_utils import SearchUtils

    parsed = SearchUtils.parse_search_filter(f"params.dataset = {mlflow_str(value)} and params.encoder = 'e'")
    assert [p["value"] for p in parsed] == [value, "e"]


def test_mlflow_value_with_both_quotes_is_refused_not_mangled():
    with pytest.raises(UnsafeName, match="MLflow"):
        mlflow_str("a'b\"c")


def test_leaderboard_caches_a_dataset_folder_named_obrien(arrays_dir, tmp_path):
    """Embedded, scored and logged, then read back from MLflow by a filter carrying the quote."""
    from embedforge.tasks.leaderboard import score_pair

    folder = shutil.copytree(arrays_dir, tmp_path / "O'Brien")
    db, ref = str(tmp_path / "db"), f"arrays:{folder}"
    name = dataset_name_for(ref, None)
    plan = plan_embedding(dataset=ref, encoder="test/tiny", db_uri=db, work_dir=str(tmp_path / "work"))
    for path in plan.shards:
        embed_shard(shard_path=path, encoder="test/tiny", db_uri=db)
    args = dict(
        db=db, encoder="test/tiny", weights=None, dataset_ref=ref, dataset_name=name, augment=[],
        heads=["classify/logreg"], label="label", tracking_uri=f"sqlite:///{tmp_path}/ml.db", experiment="obrien",
    )  # fmt: skip
    cold = score_pair(**args)
    warm = score_pair(**args)
    assert [r["dataset"] for r in cold] == ["arrays-O'Brien"] and not cold[0]["cached"]
    assert warm[0]["cached"] and warm[0]["run_id"] == cold[0]["run_id"]


def test_cli_refuses_an_unsafe_name_with_a_message_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from embedforge.flows.cli import build_app

    folder = tmp_path / "bad\tdir"
    folder.mkdir()
    for args in (["--dataset", f"arrays:{tmp_path}", "--name", "bad\x1bname"], ["--dataset", f"arrays:{folder}"]):
        out = CliRunner().invoke(build_app(), ["embed", "--encoder", "test/tiny", "--db", str(tmp_path / "db"), *args])
        assert out.exit_code == 2 and "control characters" in out.output and "Traceback" not in out.output
