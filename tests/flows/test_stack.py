"""The local stack: real Prefect and MLflow servers and a worker, started detached on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedforge.infra.stack import (
    Service,
    StackError,
    group_members,
    is_alive,
    port_free,
    read_pids,
    settings_env,
    spawn,
    stack_down,
    stack_status,
    stack_up,
    stop_entry,
)
from embedforge.registry.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("content-type", ""), resp.read().decode(errors="replace")


def cli(*args: str):
    from embedforge.flows.cli import build_app

    return CliRunner().invoke(build_app(), list(args))


# -- fast checks: bookkeeping on real processes, no servers ------------------------------------------------
def test_settings_env_rebuilds_the_same_settings(tmp_path, monkeypatch):
    s = Settings(home=tmp_path, prefect_port=4321, work_pool="pool-x", prefect_db_url="postgresql+asyncpg://u@h/db")
    for key, value in settings_env(s).items():
        monkeypatch.setenv(key, value)
    assert Settings() == s


def test_stop_entry_ends_a_detached_process_group(tmp_path):
    svc = Service("sleeper", ["bash", "-c", "sleep 60 & sleep 60"], dict(os.environ), tmp_path / "sleeper.log")
    entry = spawn(svc)
    deadline = time.monotonic() + 10
    while len(group_members(entry["pid"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert is_alive(entry) and len(group_members(entry["pid"])) >= 2  # bash and its children
    assert stop_entry(entry, timeout=5) is True
    assert group_members(entry["pid"]) == [] and not is_alive(entry)
    assert stop_entry(entry) is False  # already gone


def test_recycled_pid_is_not_mistaken_for_a_service():
    entry = {"pid": os.getpid(), "ticks": "1"}  # our pid, but another start time
    assert not is_alive(entry)


def test_status_and_down_without_a_stack(tmp_path):
    s = Settings(home=tmp_path)
    assert [r.running for r in stack_status(s)] == [False, False, False]
    assert stack_down(s) == {}
    result = cli("stack", "status", "--home", str(tmp_path))
    assert result.exit_code == 1 and "stopped" in result.output


def test_port_in_use_is_named_before_anything_starts(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        s = Settings(home=tmp_path, prefect_port=free_port(), mlflow_port=port)
        with pytest.raises(StackError, match=rf"port {port} on 127\.0\.0\.1 is already in use .*MLflow.*--mlflow-port"):
            stack_up(s)
        result = cli("stack", "up", "--home", str(tmp_path), "--prefect-port", str(port))
    assert result.exit_code == 1 and f"port {port}" in result.output and "--prefect-port" in result.output
    assert read_pids(s) == {} and not (tmp_path / "prefect").exists()


# -- the real stack ---------------------------------------------------------------------------------------
def embedforge(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """The console command in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`embedforge stack up` in a child process that exits; the services must outlive it. Always stopped."""
    s = Settings(home=tmp_path_factory.mktemp("stack-home"), prefect_port=free_port(), mlflow_port=free_port())
    env = {**os.environ, **settings_env(s)}
    t0 = time.monotonic()
    try:
        up = embedforge("stack", "up", env=env, timeout=400)
        assert up.returncode == 0, up.stdout + up.stderr
        print(f"stack up in {time.monotonic() - t0:.1f} s\n{up.stdout}")
        assert "Prefect UI" in up.stdout and "MLflow UI" in up.stdout
        yield s, read_pids(s), env
    finally:
        stack_down(s)


@pytest.mark.slow
def test_up_serves_the_prefect_ui_and_mlflow(stack):
    s, entries, _ = stack
    assert set(entries) == {"prefect-server", "mlflow", "prefect-worker"}
    assert all(is_alive(e) for e in entries.values())  # the CLI that started them has exited
    assert all(os.getpgid(e["pid"]) == e["pid"] for e in entries.values())  # detached: own session
    status, ctype, body = get(entries["prefect-server"]["url"] + "/")
    assert status == 200 and ctype.startswith("text/html") and "<html" in body.lower()
    assert get(entries["prefect-server"]["url"] + "/api/health")[2].strip() == "true"
    ui = json.loads(get(entries["prefect-server"]["url"] + "/ui-settings")[2])
    assert ui["api_url"] == entries["prefect-server"]["url"] + "/api"  # the UI asks its own port, not 4200
    assert get(entries["mlflow"]["url"] + "/health")[2].strip() == "OK"
    pool = json.loads(get(entries["prefect-server"]["url"] + f"/api/work_pools/{s.work_pool}")[2])
    assert pool["type"] == "process"
    logs = {Path(e["log"]).name for e in entries.values()}
    assert logs == {"prefect-server.log", "mlflow.log", "prefect-worker.log"}
    assert all((s.home / "stack" / name).exists() for name in logs)
    assert (s.prefect_dir / "prefect.db").exists() and (s.home / "mlflow" / "mlflow.db").exists()


@pytest.mark.slow
def test_status_reports_every_service_healthy(stack):
    s, entries, env = stack
    rows = stack_status(s)
    assert [(r.name, r.pid, r.running, r.healthy) for r in rows] == [
        (n, entries[n]["pid"], True, True) for n in ("prefect-server", "mlflow", "prefect-worker")
    ]
    result = embedforge("stack", "status", env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(entries["prefect-server"]["pid"]) in result.stdout and result.stdout.count(" ok ") == 3


@pytest.mark.slow
def test_starting_twice_says_already_running(stack):
    s, entries, env = stack
    pid = entries["prefect-server"]["pid"]
    with pytest.raises(StackError, match=rf"already running \(prefect-server pid {pid}"):
        stack_up(s)
    result = embedforge("stack", "up", env=env, timeout=60)
    assert result.returncode == 1 and "already running" in result.stdout and f"pid {pid}" in result.stdout
    assert all(is_alive(e) for e in entries.values())


@pytest.mark.slow
def test_another_home_on_the_same_port_is_refused(stack, tmp_path):
    s, _, _ = stack
    other = Settings(home=tmp_path, prefect_port=s.prefect_port, mlflow_port=free_port())
    with pytest.raises(StackError, match=rf"port {s.prefect_port} .* already in use .*Prefect server"):
        stack_up(other)


@pytest.mark.slow
def test_down_stops_every_process(stack):
    """Last in the module: `embedforge stack down` ends each service's whole process group and frees the ports."""
    s, entries, env = stack
    down = embedforge("stack", "down", env=env, timeout=120)
    assert down.returncode == 0 and down.stdout.count(": stopped") == 3, down.stdout + down.stderr
    assert all(group_members(e["pid"]) == [] for e in entries.values())
    assert not any(is_alive(e) for e in entries.values())
    assert port_free("127.0.0.1", s.prefect_port) and port_free("127.0.0.1", s.mlflow_port)
    assert read_pids(s) == {} and [r.running for r in stack_status(s)] == [False, False, False]


# -- optional: PostgreSQL for the Prefect server and the MLflow tracking store -------------------------------
def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster on a free loopback port (as the postgres user when run as root)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="embedforge-pg-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(root / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {root}", "-w", "start"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        for db in ("prefect", "mlflow"):
            subprocess.run(
                [*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db],
                check=True,
                capture_output=True,
                timeout=30,
            )
        yield f"postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_stack_on_postgres(postgres, tmp_path):
    """Prefect's server database and MLflow's tracking store both on PostgreSQL."""
    pytest.importorskip("psycopg", reason="MLflow needs a sync driver for postgresql:// (psycopg[binary])")
    import mlflow

    s = Settings(
        home=tmp_path,
        prefect_port=free_port(),
        mlflow_port=free_port(),
        prefect_db_url=f"postgresql+asyncpg://{postgres}/prefect",
        tracking_uri=f"postgresql://{postgres}/mlflow",
        artifact_uri=str(tmp_path / "artifacts"),
    )
    try:
        entries = stack_up(s)
        assert all(r.healthy for r in stack_status(s))
        assert not (s.prefect_dir / "prefect.db").exists()  # not silently on SQLite
        client = mlflow.MlflowClient(tracking_uri=entries["mlflow"]["url"])
        exp = client.create_experiment("pg-check")
        run = client.create_run(exp)
        client.log_metric(run.info.run_id, "m", 0.5)
        direct = mlflow.MlflowClient(tracking_uri=s.tracking_uri)  # same rows, read straight from PostgreSQL
        assert direct.get_run(run.info.run_id).data.metrics == {"m": 0.5}
    finally:
        stack_down(s)
