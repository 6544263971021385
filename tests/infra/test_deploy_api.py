"""The deploy/run calls to Prefect's REST API retry what a busy server answers (429/502/503), as Prefect's client."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from embedforge.infra import deploy
from embedforge.infra.stack import StackError
from embedforge.registry.settings import Settings


def _server(codes: list[int]):
    """A loopback API answering each POST with the next code of ``codes`` (then 200 with a JSON body)."""
    seen: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.rfile.read(int(self.headers["Content-Length"])))
            code = codes.pop(0) if codes else 200
            body = json.dumps({"id": "run-1"} if code == 200 else {"exception_message": "Service Unavailable"})
            self.send_response(code)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_busy_server_is_asked_again(tmp_path):
    server, seen = _server([503, 429, 502])
    try:
        url = f"http://127.0.0.1:{server.server_port}/api"
        out = deploy.api(Settings(home=tmp_path), "POST", "/deployments/x/create_flow_run", {"a": 1}, api_url=url)
    finally:
        server.shutdown()
    assert out == {"id": "run-1"} and len(seen) == 4 and all(json.loads(b) == {"a": 1} for b in seen)


def test_it_gives_up_after_the_retries_and_never_retries_a_refusal(tmp_path):
    server, seen = _server([503] * 10)
    try:
        url = f"http://127.0.0.1:{server.server_port}/api"
        with pytest.raises(StackError, match="503"):
            deploy.api(Settings(home=tmp_path), "POST", "/x", {}, api_url=url)
        assert len(seen) == deploy.RETRIES + 1
        seen.clear()
        server2, seen2 = _server([422])
        with pytest.raises(StackError, match="422"):
            deploy.api(Settings(home=tmp_path), "POST", "/x", {}, api_url=f"http://127.0.0.1:{server2.server_port}")
        server2.shutdown()
        assert len(seen2) == 1  # a refused request is not sent again
    finally:
        server.shutdown()


def test_backoff_follows_retry_after_else_doubles():
    assert deploy._backoff(0, "2") == 2.0 and deploy._backoff(0, "600") == 10.0
    assert [deploy._backoff(i, None) for i in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert deploy._backoff(1, "Wed, 21 Oct 2026 07:28:00 GMT") == 0.5
