"""The background Prefect server: started once per home, shared by commands, restarted after a crash, idle-stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    full.update(EMBEDFORGE_HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="200", **env)
    full.pop("PREFECT_HOME", None)  # the CLI puts Prefect's home under EMBEDFORGE_HOME
    return subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", *args], env=full, capture_output=True, text=True, timeout=600
    )


def state(home: Path) -> dict | None:
    path = home / "server" / "server.json"
    return json.loads(path.read_text()) if path.exists() else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return stat[0] not in ("Z", "X")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("bg-home")
    yield home
    cli(home, "server", "stop")


def test_commands_share_one_server_and_stop_removes_it(home):
    with ThreadPoolExecutor(2) as pool:  # two commands at once: one starts it, the other adopts it
        first, second = pool.map(lambda _: cli(home, "server", "start"), range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stdout + first.stderr + second.stderr
    s = state(home)
    assert s is not None and f"pid {s['pid']}" in first.stdout and f"pid {s['pid']}" in second.stdout
    assert s["url"].startswith("http://127.0.0.1:")  # loopback only
    with urllib.request.urlopen(s["url"] + "/ui-settings", timeout=10) as resp:
        assert json.loads(resp.read())["api_url"] == s["api_url"]  # the UI talks to this server, not port 4200
    status = cli(home, "server", "status")
    assert status.returncode == 0 and "ok" in status.stdout and s["url"] in status.stdout, status.stdout
    assert cli(home, "server", "stop").returncode == 0
    deadline = time.monotonic() + 30
    while alive(s["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(s["pid"]) and state(home) is None
    assert cli(home, "server", "status").returncode == 1


def test_a_crashed_server_is_replaced(home):
    assert cli(home, "server", "start").returncode == 0
    crashed = state(home)
    os.killpg(crashed["pid"], signal.SIGKILL)  # supervisor and server, as an OOM kill would
    time.sleep(0.5)
    again = cli(home, "server", "start")
    assert again.returncode == 0, again.stdout + again.stderr
    now = state(home)
    assert now["pid"] != crashed["pid"] and alive(now["pid"])
    with urllib.request.urlopen(now["api_url"] + "/health", timeout=5) as resp:
        assert resp.status == 200


def test_embed_runs_on_the_background_server_and_show_in_its_api(home, arrays_dir):
    cli(home, "server", "stop")
    args = ("embed", "--dataset", f"arrays:{arrays_dir}", "--encoder", "test/tiny")
    first = cli(home, *args, "--name", "one", EMBEDFORGE_PLUGINS="tests.fakes")
    assert first.returncode == 0 and "embedded 12" in first.stdout, first.stdout[-2000:] + first.stderr[-2000:]
    used = state(home)
    second = cli(home, *args, "--name", "two", EMBEDFORGE_PLUGINS="tests.fakes")
    assert second.returncode == 0 and "reused 12" in second.stdout, second.stdout[-2000:] + second.stderr[-2000:]
    assert state(home)["pid"] == used["pid"]  # the second command reused the first one's server
    assert "temporary server" not in first.stderr + second.stderr
    req = urllib.request.Request(
        used["api_url"] + "/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        runs = json.loads(resp.read())
    assert sum(r["state_type"] == "COMPLETED" for r in runs) >= 2, [r["state_type"] for r in runs]
    assert not list((home / "server" / "clients").glob("*"))  # both commands let go of it at exit


def test_an_idle_server_stops_itself(tmp_path):
    started = cli(tmp_path, "server", "start", EMBEDFORGE_SERVER_IDLE_S="3")
    assert started.returncode == 0, started.stdout + started.stderr
    pid = state(tmp_path)["pid"]
    deadline = time.monotonic() + 60
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(pid) and state(tmp_path) is None
    assert "idle for more than 3 s" in (tmp_path / "server" / "server.log").read_text()


def test_temporary_server_flag_starts_no_background_server(tmp_path, arrays_dir):
    out = cli(
        tmp_path,
        "--temporary-server",
        "embed",
        "--dataset",
        f"arrays:{arrays_dir}",
        "--encoder",
        "test/tiny",
        EMBEDFORGE_PLUGINS="tests.fakes",
    )
    assert out.returncode == 0 and "embedded 12" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert state(tmp_path) is None


def test_a_fresh_home_starts_from_the_installation_s_migrated_database(tmp_path):
    from embedforge.infra.local_server import database_template

    first = cli(tmp_path / "a", "server", "start", EMBEDFORGE_SERVER_IDLE_S="5")
    assert first.returncode == 0, first.stdout + first.stderr
    assert state(tmp_path / "a")["database"] in ("migrated", "copied from template")
    assert database_template().is_file()  # kept after the first migration this installation ran
    second = cli(tmp_path / "b", "server", "start", EMBEDFORGE_SERVER_IDLE_S="5")
    assert second.returncode == 0, second.stdout + second.stderr
    s = state(tmp_path / "b")
    assert s["database"] == "copied from template"
    with urllib.request.urlopen(s["api_url"] + "/health", timeout=5) as resp:
        assert resp.status == 200
    # started without the migration check and block registration: the copy must already have both
    post = lambda path, body: json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                s["api_url"] + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            ),
            timeout=10,
        ).read()
    )
    assert post("/flows/", {"name": "copied-db-check"})["name"] == "copied-db-check"
    assert len(post("/block_types/filter", {})) > 10
    if Path(f"/proc/{s['pid']}/environ").exists():  # the supervisor's (and so the server's) environment
        env = Path(f"/proc/{s['pid']}/environ").read_bytes().split(b"\0")
        assert b"PREFECT_API_DATABASE_MIGRATE_ON_START=false" in env
    first_env = Path(f"/proc/{state(tmp_path / 'a')['pid']}/environ")
    if first_env.exists() and state(tmp_path / "a")["database"] == "migrated":
        assert not any(v.startswith(b"PREFECT_API_DATABASE_MIGRATE") for v in first_env.read_bytes().split(b"\0"))
    for home in ("a", "b"):
        cli(tmp_path / home, "server", "stop")


def test_only_a_database_at_the_template_s_revision_starts_without_the_migration_check(tmp_path):
    import shutil
    import sqlite3
    from contextlib import closing

    from embedforge.infra.local_server import _settled_database_env, database_template
    from embedforge.registry.settings import Settings

    if not database_template().is_file():
        pytest.skip("no migrated template in this installation yet")
    settings = Settings(home=tmp_path)
    db = settings.prefect_dir / "prefect.db"
    db.parent.mkdir(parents=True)
    shutil.copyfile(database_template(), db)
    skip = {"PREFECT_API_DATABASE_MIGRATE_ON_START": "false"}
    assert _settled_database_env(settings, "copied from template") == {
        **skip, "PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}  # fmt: skip
    assert _settled_database_env(settings, "existing") == skip
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = 'an-older-revision'")
    assert _settled_database_env(settings, "existing") == {}  # Prefect upgrades it on start, as by default
    db.write_bytes(b"not a database")
    assert _settled_database_env(settings, "existing") == {}
    assert _settled_database_env(settings, "migrated") == {} and _settled_database_env(settings, "configured") == {}
