"""The warm query server: same hits as a one-off search, answered by a process that loaded the encoder once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import Series
from embedforge.registry.encoders import build_encoder
from embedforge.tasks.query_server import ask, find_server, make_server
from embedforge.tasks.search import search_file
from embedforge.tasks.store import VectorStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path, arrays_dir):
    model = build_encoder("test/tiny")
    paths = sorted(arrays_dir.glob("*.npy"))
    vectors = model.encode([model.preprocess(Series(np.load(p)), p.name) for p in paths])
    rows = [dict(id=p.name, uri=str(p), content_hash=p.name, split=None, group=None, labels={"n": i}, dataset="a",
                 vector=v) for i, (p, v) in enumerate(zip(paths, vectors, strict=True))]  # fmt: skip
    db = str(tmp_path / "db")
    VectorStore(db).upsert("test__tiny", model.identity(), rows)
    home = tmp_path / "home"
    server, state = make_server(db_uri=db, encoder="test/tiny", home=home)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield db, home, state, arrays_dir
    server.shutdown()
    server.server_close()


def test_cli_search_is_answered_by_the_warm_server_with_the_same_hits(served):
    db, home, state, arrays = served
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    env = dict(os.environ, EMBEDFORGE_HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="200")
    args = ["search", "--encoder", "test/tiny", "--query", str(arrays / "s04.npy"), "--db", db, "-k", "3"]
    out = subprocess.run([sys.executable, "-m", "embedforge.flows.cli", *args], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "answered by the warm query server" in out.stdout
    assert "cosine distance" in out.stdout and "None" not in out.stdout  # the metric named; no group/split: blank
    local = search_file(db_uri=db, encoder="test/tiny", path=str(arrays / "s04.npy"), k=3)
    record = find_server(home, db, "test__tiny")
    remote = ask(record, {"path": str(arrays / "s04.npy"), "k": 3})
    assert [h["id"] for h in remote] == [h["id"] for h in local] and remote[0]["id"] == "s04.npy"
    assert np.allclose([h["_distance"] for h in remote], [h["_distance"] for h in local], atol=1e-6)
    assert all(h["id"] in out.stdout for h in local)


def test_the_server_refuses_without_its_token_and_names_a_bad_query(served):
    db, home, _, arrays = served
    record = find_server(home, db, "test__tiny")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(
            urllib.request.Request(record["url"] + "/search", data=b'{"text": "x"}', headers={"Authorization": "no"}),
            timeout=10,
        )
    assert err.value.code == 401 and "Traceback" not in err.value.read().decode()
    with pytest.raises(ValueError, match="exactly one of text or path"):
        ask(record, {"path": str(arrays / "s04.npy"), "text": "both"})
    with pytest.raises(ValueError, match="no text tower"):
        ask(record, {"text": "a sentence"})
    with pytest.raises(ValueError, match=r"nope\.npy"):
        ask(record, {"path": str(arrays / "nope.npy")})
    assert ask(record, {"path": str(arrays / "s01.npy"), "k": 1})[0]["id"] == "s01.npy"  # still serving


def test_no_server_for_a_missing_table(tmp_path):
    with pytest.raises(LookupError, match="no vectors of test/tiny"):
        make_server(db_uri=str(tmp_path / "db"), encoder="test/tiny", home=tmp_path)
    assert find_server(tmp_path, str(tmp_path / "db"), "test__tiny") is None


def test_a_server_gone_since_it_was_found_is_a_connection_error(served):
    db, home, _, arrays = served
    record = find_server(home, db, "test__tiny")
    with pytest.raises(ConnectionError, match="query server at"):
        ask(dict(record, url="http://127.0.0.1:9"), {"path": str(arrays / "s01.npy")})
