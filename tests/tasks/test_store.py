import numpy as np
import pytest

from embedforge.tasks.store import IdentityMismatch, VectorStore, table_name

IDENT = {"name": "test/tiny", "dim": 4, "fingerprint": "f1", "weights": "w", "input": {}}


def _rows(n, offset=0):
    rng = np.random.default_rng(offset)
    return [
        dict(
            dataset="d",
            id=f"i{i}",
            uri=f"/x/{i}",
            content_hash=f"h{i}",
            split="train",
            group="g",
            labels={"y": i},
            vector=rng.standard_normal(4),
        )
        for i in range(offset, offset + n)
    ]


def test_upsert_is_idempotent_and_replaces_changed_rows(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, _rows(5))
    store.upsert("t", IDENT, _rows(5))
    changed = dict(_rows(1)[0], content_hash="h0-new")
    store.upsert("t", IDENT, [changed])
    assert store.count("t") == 5
    assert store.known("t", "d")["i0"] == "h0-new"


def test_identity_recorded_and_foreign_writes_refused(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, _rows(2))
    assert store.identity("t")["fingerprint"] == "f1"
    with pytest.raises(IdentityMismatch, match="refusing a write"):
        store.upsert("t", dict(IDENT, fingerprint="other"), _rows(1, 7))
    with pytest.raises(IdentityMismatch):
        store.ensure_table("t", dict(IDENT, dim=8))
    assert store.count("t") == 2


def test_search_returns_nearest_with_labels(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    rows = _rows(6)
    store.upsert("t", IDENT, rows)
    hits = store.search("t", rows[3]["vector"], k=3)
    assert hits[0]["id"] == "i3" and hits[0]["labels"] == {"y": 3} and len(hits) == 3


def test_failures_recorded_once_and_cleared(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    bad = {"id": "i9", "uri": "/x/9", "content_hash": "h9", "error": "i9: truncated"}
    store.record_failures("t", "d", [bad])
    store.record_failures("t", "d", [bad])
    assert [f["error"] for f in store.failures("t")] == ["i9: truncated"]
    store.clear_failures("t", "d", ["i9"])
    assert store.failures("t") == []


def test_table_names_are_stable_and_distinguish_weights():
    assert table_name("speech/ge2e") == "speech__ge2e"
    assert table_name("speech/ge2e", "/a") != table_name("speech/ge2e", "/b")
