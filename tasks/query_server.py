"""A warm query server: one table's encoder loaded once, queried over loopback HTTP in milliseconds.

A one-off ``embedforge search`` pays the encoder's load and LanceDB's import every time (seconds for a
transformer). ``embedforge search --serve --encoder E`` keeps both in one process; later ``search`` commands on
the same table and store find it through ``HOME/search/TABLE-DB.json`` and ask it instead. It binds loopback
only and answers only requests carrying the token from that file (written 0600): it reads query files with its
owner's rights, so only its owner may ask. Errors come back as one line, never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from embedforge.modalities.base import ItemError
from embedforge.registry.registry import RegistryError
from embedforge.registry.settings import Settings
from embedforge.tasks.embed import write_private
from embedforge.tasks.search import search_file, search_text, table_and_encoder
from embedforge.tasks.store import table_name

HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # a query is a sentence or a path, never a payload
QUERY_KEYS = {"text", "path", "k", "dataset", "where"}


def state_path(home: Path, db_uri: str, table: str) -> Path:
    """Where the server for this table of this store records its port and token."""
    return home / "search" / f"{table}-{hashlib.sha256(db_uri.encode()).hexdigest()[:10]}.json"


def answer(search: dict[str, Any], query: dict[str, Any]) -> list[dict[str, Any]]:
    """One query against the warm encoder; ``search`` holds the table's db, encoder, weights and options."""
    unknown = set(query) - QUERY_KEYS
    if unknown or ("text" in query) == ("path" in query):
        raise ValueError(f"a query has exactly one of text or path, and only {sorted(QUERY_KEYS)}")
    common = dict(search, k=int(query.get("k", 10)), dataset=query.get("dataset"), where=query.get("where"))
    if "text" in query:
        return search_text(**common, text=str(query["text"]))
    return search_file(**common, path=str(query["path"]))


class _Handler(BaseHTTPRequestHandler):
    server: _QueryServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per query is noise
        return

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/health":
            return self._send(404, {"error": "not found"})
        return self._send(200, {"table": self.server.table, "encoder": self.server.search["encoder"]})

    def do_POST(self) -> None:
        given = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            return self._send(401, {"error": "missing or wrong token (see the server's state file)"})
        if self.path != "/search":
            return self._send(404, {"error": "not found"})
        try:
            size = int(self.headers.get("Content-Length", "0"))
            if not 0 < size <= MAX_BODY:
                raise ValueError(f"a query body of {size} bytes (at most {MAX_BODY})")
            query = json.loads(self.rfile.read(size))
            if not isinstance(query, dict):
                raise ValueError("the body is a JSON object")
            t0 = time.perf_counter()
            hits = answer(self.server.search, query)
        except (ItemError, LookupError, ValueError, RegistryError) as exc:
            return self._send(400, {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
        except Exception as exc:  # the caller gets a line, never a trace; the server keeps serving
            return self._send(500, {"error": f"internal error ({type(exc).__name__})"})
        return self._send(200, {"hits": hits, "ms": round((time.perf_counter() - t0) * 1000, 2)})


class _QueryServer(HTTPServer):
    """Single-threaded on purpose: encoders are not promised to be thread-safe, and a query takes milliseconds."""

    def __init__(self, port: int, search: dict[str, Any], table: str, token: str) -> None:
        super().__init__((HOST, port), _Handler)
        self.search, self.table, self.token = search, table, token


def make_server(
    *,
    db_uri: str,
    encoder: str,
    weights: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    port: int = 0,
    home: Path | None = None,
) -> tuple[_QueryServer, Path]:
    """Load the encoder and check the table (a warm first query), bind, and record port and token (0600)."""
    search = {"db_uri": db_uri, "encoder": encoder, "weights": weights, "encoder_options": encoder_options}
    table = table_name(encoder, weights, encoder_options)
    table_and_encoder(db_uri, encoder, weights, encoder_options)  # refuses a missing table or other weights now
    server = _QueryServer(port, search, table, secrets.token_urlsafe(24))
    path = state_path(home or Settings().home, db_uri, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "url": f"http://{HOST}:{server.server_address[1]}", "token": server.token}
    tmp = path.with_suffix(".tmp")
    write_private(tmp, json.dumps(record))
    tmp.replace(path)
    return server, path


def find_server(home: Path, db_uri: str, table: str) -> dict[str, Any] | None:
    """The recorded server for this table, if its process is alive and it answers."""
    path = state_path(home, db_uri, table)
    try:
        record = json.loads(path.read_text())
        os.kill(int(record["pid"]), 0)
        with urllib.request.urlopen(record["url"] + "/health", timeout=1.0) as resp:
            if json.loads(resp.read()).get("table") == table:
                return dict(record)
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None
    return None


def ask(record: dict[str, Any], query: dict[str, Any], timeout: float = 60.0) -> list[dict[str, Any]]:
    """Send one query to a warm server; its 4xx message raised as ValueError, an unreachable server as
    ConnectionError."""
    req = urllib.request.Request(
        record["url"] + "/search",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {record['token']}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return list(json.loads(resp.read())["hits"])
    except urllib.error.HTTPError as exc:
        raise ValueError(json.loads(exc.read() or b"{}").get("error", f"HTTP {exc.code}")) from None
    except (urllib.error.URLError, OSError) as exc:  # it went away since it was found: the caller searches itself
        raise ConnectionError(f"query server at {record['url']}: {exc}") from None
