import json
from contextlib import nullcontext

import numpy as np
import pytest

import embedforge.tasks.store as store_module
from embedforge.tasks.store import IdentityMismatch, VectorStore, table_name
from embedforge.tasks.table_lock import table_lock

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


class _SpyStore(VectorStore):
    """The real store, remembering which keys went through merge_insert (the rest were appended)."""

    def __init__(self, uri):
        super().__init__(uri)
        self.merged: list[list[str]] = []

    def _merge(self, tbl, data):
        self.merged.append(sorted(data["key"].to_pylist()))
        super()._merge(tbl, data)


def _ids_of(keys):
    return [json.loads(k)[1] for k in keys]


def test_locked_upsert_appends_new_keys_and_merges_only_stored_ones(tmp_path):
    store = _SpyStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, _rows(4))
    assert store.merged == []  # nothing stored yet: one append, no join over the table
    changed = [dict(r, content_hash=r["content_hash"] + "-new") for r in _rows(4, 2)]  # i2, i3 stored; i4, i5 new
    store.upsert("t", IDENT, changed)
    assert [_ids_of(keys) for keys in store.merged] == [["i2", "i3"]]
    assert store.known("t", "d") == {
        "i0": "h0",
        "i1": "h1",
        "i2": "h2-new",
        "i3": "h3-new",
        "i4": "h4-new",
        "i5": "h5-new",
    }
    assert store.count("t") == 6


def test_unlocked_upsert_merges_every_row(tmp_path):
    """Object storage has no lock: every key goes through merge_insert, whose primary-key check catches races."""

    class Unlocked(_SpyStore):
        def commit_lock(self, table):
            return nullcontext()

    store = Unlocked(str(tmp_path / "db"))
    store.upsert("t", IDENT, _rows(3))
    store.upsert("t", IDENT, _rows(2, 2))
    assert [_ids_of(keys) for keys in store.merged] == [["i0", "i1", "i2"], ["i2", "i3"]]
    assert sorted(store.known("t", "d")) == ["i0", "i1", "i2", "i3"] and store.count("t") == 4


def test_a_key_twice_in_one_upsert_stores_its_last_row(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    first, again = _rows(1)[0], dict(_rows(1)[0], content_hash="h0-last")
    assert store.upsert("t", IDENT, [first, *_rows(1, 1), again]) == 2
    assert store.known("t", "d") == {"i0": "h0-last", "i1": "h1"} and store.count("t") == 2


def test_lock_says_whether_it_is_held(tmp_path):
    with table_lock(str(tmp_path / "db"), "t") as held:
        assert held is True and (tmp_path / "db" / ".locks" / "t.lock").exists()
    with table_lock("s3://bucket/db", "t") as held:
        assert held is False


def test_upsert_reuses_the_shards_lookup_while_the_table_is_unchanged(tmp_path, monkeypatch):
    lookups = []
    real = store_module._stored_keys
    monkeypatch.setattr(store_module, "_stored_keys", lambda tbl, keys: lookups.append(keys) or real(tbl, keys))
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("t", IDENT, _rows(2))
    assert len(lookups) == 1  # nothing looked up before: the store asks under the lock
    assert store.known("t", "d", ["i1", "i2", "i3"]) == {"i1": "h1"}
    store.upsert("t", IDENT, [dict(r, content_hash=r["content_hash"] + "-new") for r in _rows(3, 1)])
    assert len(lookups) == 1  # known() saw this very version: its answer is still exact
    assert store.known("t", "d") == {"i0": "h0", "i1": "h1-new", "i2": "h2-new", "i3": "h3-new"}


def test_a_commit_after_the_lookup_is_not_missed(tmp_path):
    """Another writer stores the same keys between a shard's lookup and its commit: still one row per key."""
    uri = str(tmp_path / "db")
    mine, other = VectorStore(uri), VectorStore(uri)
    mine.upsert("t", IDENT, _rows(2))
    assert mine.known("t", "d", ["i2", "i3"]) == {}
    other.upsert("t", IDENT, _rows(2, 2))
    mine.upsert("t", IDENT, [dict(r, content_hash=r["content_hash"] + "-mine") for r in _rows(2, 2)])
    ids = mine.rows("t")["id"].to_pylist()
    assert sorted(ids) == ["i0", "i1", "i2", "i3"]
    assert mine.known("t", "d", ["i2", "i3"]) == {"i2": "h2-mine", "i3": "h3-mine"}


def test_vectors_by_hash_returns_stored_vectors_of_known_content_only(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    rows = _rows(3)
    store.upsert("t", IDENT, rows)
    found = store.vectors_by_hash("t", ["h2", "nope", "h0"])
    assert sorted(found) == ["h0", "h2"]
    np.testing.assert_allclose(found["h2"], rows[2]["vector"].astype(np.float32))
    assert store.vectors_by_hash("t", ["nope"]) == {} and store.vectors_by_hash("absent", ["h0"]) == {}
