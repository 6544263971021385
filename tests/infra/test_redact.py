"""Credentials never reach what embedforge prints or writes: serve's command line, the stack's state file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from embedforge.registry.redact import redact

SECRET = "s3cr3t-Pw"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"postgresql+asyncpg://embedforge:{SECRET}@postgres:5432/prefect", "embedforge:***@postgres:5432/prefect"),
        (f"MLFLOW_TRACKING_URI=https://user:{SECRET}@mlflow.example/x", "https://user:***@mlflow.example/x"),
        (f"s3://bucket/key?password={SECRET}&region=eu", "s3://bucket/key?password=***&region=eu"),
        (f"--token={SECRET} AWS_SECRET_ACCESS_KEY={SECRET}", "--token=*** AWS_SECRET_ACCESS_KEY=***"),
        (
            "http://127.0.0.1:5000/health and sqlite:////tmp/a.db",
            "http://127.0.0.1:5000/health and sqlite:////tmp/a.db",
        ),
        ("https://user@host/path@v2", "https://user@host/path@v2"),
    ],
)
def test_redact(text, expected):
    out = redact(text)
    assert expected in out and SECRET not in out


def test_serve_prints_the_tracking_uri_without_its_password(tmp_path):
    env = {
        **os.environ,
        "EMBEDFORGE_HOME": str(tmp_path),
        "EMBEDFORGE_TRACKING_URI": f"postgresql://embedforge:{SECRET}@db.internal:5432/mlflow",
    }
    done = subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", "serve", "model@champion", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "postgresql://embedforge:***@db.internal:5432/mlflow" in done.stdout.replace("\n", "")
    assert SECRET not in done.stdout + done.stderr


def test_stack_state_file_keeps_no_backend_password(tmp_path):
    from embedforge.infra.stack import Service, _write_pids, pids_file, spawn, stop_entry
    from embedforge.registry.settings import Settings

    settings = Settings(home=tmp_path)
    backend = f"postgresql://embedforge:{SECRET}@db.internal:5432/mlflow"
    service = Service(
        "mlflow",
        [sys.executable, "-c", "import time; time.sleep(60)", "--backend-store-uri", backend],
        dict(os.environ),
        tmp_path / "stack" / "svc.log",
    )
    entry = spawn(service)
    try:
        _write_pids(settings, {"mlflow": entry})
        text = pids_file(settings).read_text()
        assert SECRET not in text and "embedforge:***@db.internal" in text
        assert json.loads(text)["mlflow"]["pid"] == entry["pid"]
        assert pids_file(settings).stat().st_mode & 0o077 == 0  # readable by its owner only
    finally:
        stop_entry(entry)


def test_log_lines_are_redacted_whoever_logs_them():
    import logging

    from embedforge.registry.redact import install_log_redaction

    stream = io.StringIO()
    logger = logging.getLogger("some.library")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    before = logging.getLogRecordFactory()
    try:
        install_log_redaction()
        install_log_redaction()  # idempotent
        logger.warning("connecting to %s", f"postgresql://u:{SECRET}@db/x")
        logger.warning("plain %d", 3)
    finally:
        logging.setLogRecordFactory(before)
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["connecting to postgresql://u:***@db/x", "plain 3"]


# RFC 3986 userinfo: unreserved, pct-encoded, sub-delims and ':'; plus the '/', space and quotes real passwords hold
PASSWORDS = ["a-b.c_d~e", "p%40ss%2Fw", "!$&'()*+,;=", "x:y:z", "pa/ss/word", "two words", 'q"uote', "it's"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_every_password_character_class_is_hidden(password):
    for text in (f"postgresql://bob:{password}@db:5432/x", f"--backend-store-uri 'mysql://bob:{password}@h/db' -p 1"):
        out = redact(text)
        assert password not in out and "bob:***@" in out, out


def test_ports_and_later_addresses_are_not_taken_for_passwords():
    text = "http://127.0.0.1:5000/ ready; mail admin@example.org"
    assert redact(text) == text


def test_the_stacks_mlflow_server_gets_its_backend_password_through_the_environment(tmp_path):
    from embedforge.infra.stack import mlflow_server
    from embedforge.registry.settings import Settings

    backend = f"postgresql://embedforge:{SECRET}@db.internal:5432/mlflow"
    service = mlflow_server(Settings(home=tmp_path, tracking_uri=backend))
    assert SECRET not in " ".join(service.cmd) and "--backend-store-uri" not in service.cmd
    assert service.env["MLFLOW_BACKEND_STORE_URI"] == backend
