"""LanceDB imported with the REST namespace client's ``__init__`` deferred: the store works, the client resolves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import sys
from embedforge.tasks.store import VectorStore
store = VectorStore(sys.argv[1])
store.db.create_table("t", data=[{"key": "a", "vector": [1.0, 2.0]}])
print(store.db.open_table("t").count_rows())
print("lance_namespace_urllib3_client.api.table_api" in sys.modules)
import lance_namespace_urllib3_client as client
print(client.TableApi.__name__, client.ApiClient.__name__)
print("lance_namespace_urllib3_client.api.table_api" in sys.modules)
"""


def test_store_opens_without_the_rest_client_and_the_client_still_resolves(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "db")], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert out == ["1", "False", "TableApi", "ApiClient", "True"]
