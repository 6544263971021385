"""One background Prefect server per home: started by the first command with work, shared, stopped when idle.

Without an API URL Prefect starts a temporary server in every process that runs a flow: 12-14 s wall and
13-15 CPU-s per command here (6 s of it migrating a fresh SQLite database), more than a plain script's whole
work. Instead the first command that has work starts ``prefect server start`` on a free loopback port under a
small supervisor (``python -m embedforge.infra.local_server PORT IDLE_S``, its own session, so it outlives the
command), its database migrated once under the home. Later commands find it through ``HOME/server/server.json``
and hold a lease (``HOME/server/clients/PID``) while they run; the supervisor stops the server once no lease is
live and no command used it for ``server_idle_s``. Starting, adopting and stopping happen under one file lock,
so concurrent commands share one server and never connect to one that is shutting down.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from embedforge.infra.stack import (
    START_TIMEOUT_S,
    StackError,
    _start_ticks,
    base_env,
    http_ok,
    is_alive,
    log_tail,
    stop_entry,
    venv_bin,
)
from embedforge.registry.settings import Settings

HOST = "127.0.0.1"  # loopback only, whatever interface the stack binds to
POLL_S = 2.0
HEALTH_WAIT_S = 10.0  # how long a live server may take to answer before it is taken for hung
LOG_MAX_BYTES = 20 * 1024 * 1024


def server_dir(settings: Settings) -> Path:
    return settings.home / "server"


def _state_file(settings: Settings) -> Path:
    return server_dir(settings) / "server.json"


def _leases(settings: Settings) -> Path:
    return server_dir(settings) / "clients"


def _last_used(settings: Settings) -> Path:
    return server_dir(settings) / "last_used"


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """The home's server lock: one process at a time starts, adopts or stops the server."""
    server_dir(settings).mkdir(parents=True, exist_ok=True)
    with open(server_dir(settings) / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_state(settings: Settings) -> dict | None:
    try:
        return json.loads(_state_file(settings).read_text())
    except (OSError, ValueError):
        return None


def _write_state(settings: Settings, state: dict) -> None:
    tmp = _state_file(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_file(settings))


def _forget(settings: Settings, pid: int) -> None:
    """Remove the state file if it still describes the supervisor ``pid``."""
    state = read_state(settings)
    if state is not None and state.get("pid") == pid:
        _state_file(settings).unlink(missing_ok=True)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)


def live_leases(settings: Settings) -> list[int]:
    """Pids of commands holding the server now; leases of dead (or reused) pids are removed."""
    live: list[int] = []
    for lease in _leases(settings).glob("*") if _leases(settings).is_dir() else []:
        try:
            pid, ticks = int(lease.name), lease.read_text().strip() or None
        except (OSError, ValueError):
            continue
        if is_alive({"pid": pid, "ticks": ticks}):
            live.append(pid)
        else:
            lease.unlink(missing_ok=True)
    return live


def _take_lease(settings: Settings) -> None:
    """Mark this process as a user of the server until it exits (even an exit by exception)."""
    lease = _leases(settings) / str(os.getpid())
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(_start_ticks(os.getpid()) or "")
    _touch(_last_used(settings))

    def release() -> None:
        lease.unlink(missing_ok=True)
        _touch(_last_used(settings))

    atexit.register(release)


def idle_for(settings: Settings) -> float | None:
    """Seconds since the last command let go of the server; None while one holds it."""
    if live_leases(settings):
        return None
    try:
        return time.time() - _last_used(settings).stat().st_mtime
    except OSError:
        return float("inf")


def _healthy(state: dict, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        if http_ok(state["api_url"] + "/health"):
            return True
        if time.monotonic() > deadline or not is_alive(state):
            return False
        time.sleep(0.25)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def database_template() -> Path:
    """Where this installation keeps a Prefect database migrated by its Prefect version (one per version)."""
    from importlib.metadata import version

    return Path(sys.prefix) / "share" / "embedforge" / f"prefect-{version('prefect')}.db"


def _seed_database(settings: Settings) -> str:
    """A fresh home's SQLite copied from the installation's migrated template: the ~8 s of migrations a new home's
    first server would run are paid once per installation. Which it was, for the state file."""
    if settings.prefect_db_url:
        return "configured"
    db, template = settings.prefect_dir / "prefect.db", database_template()
    if db.exists():
        return "existing"
    if not template.is_file():
        return "migrated"
    settings.prefect_dir.mkdir(parents=True, exist_ok=True)
    tmp = db.with_suffix(".seed")
    shutil.copyfile(template, tmp)
    tmp.replace(db)
    return "copied from template"


def _settled_database_env(settings: Settings, database: str) -> dict[str, str]:
    """A database just copied from this Prefect version's template is at its head with its block types stored:
    the server need not check its migrations nor register the blocks again (0.5-0.9 s of a ~4 s start here). A
    home's existing database whose Alembic revision is the template's is at that head too (a restart after the
    idle stop); its block registration Prefect already skips by its own memo. Anything else (another revision, a
    configured database, a new one) gets both, as Prefect does by default."""
    skip_migrations = {"PREFECT_API_DATABASE_MIGRATE_ON_START": "false"}
    if database == "copied from template":
        return {**skip_migrations, "PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}
    if database == "existing":
        stored = _revision(settings.prefect_dir / "prefect.db")
        if stored is not None and stored == _revision(database_template()):
            return skip_migrations
    return {}


def _revision(db: Path) -> str | None:
    """The Alembic revision a Prefect SQLite database is at (read-only), or None where it cannot be read."""
    import sqlite3

    if not db.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return ",".join(sorted(str(r[0]) for r in rows)) or None


def _save_template(settings: Settings) -> None:
    """After a fresh home's first start, keep its just-migrated database as the template (an online backup:
    the server is running); best effort: an installation it cannot write to simply has no template."""
    import sqlite3

    template = database_template()
    if settings.prefect_db_url or template.exists():
        return
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        tmp = template.with_suffix(f".{os.getpid()}.tmp")
        with closing(sqlite3.connect(settings.prefect_dir / "prefect.db")) as src, closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
        tmp.replace(template)
    except (OSError, sqlite3.Error):
        return


def _spawn(settings: Settings, timeout: float) -> dict:
    """Start the supervisor (which starts the server) detached; its state once the API answers."""
    database = _seed_database(settings)
    log = server_dir(settings) / "server.log"
    if log.exists() and log.stat().st_size > LOG_MAX_BYTES:
        log.unlink()
    env = base_env(settings)
    env.pop("PREFECT_API_URL")  # the server is nobody's client
    port = _free_port()
    env["PREFECT_UI_API_URL"] = f"http://{HOST}:{port}/api"  # the UI's own server, not Prefect's default port
    env.update(_settled_database_env(settings, database))
    cmd = [sys.executable, "-m", __name__, str(port), str(settings.server_idle_s)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    url = f"http://{HOST}:{port}"
    state: dict = {"pid": proc.pid, "ticks": _start_ticks(proc.pid), "port": port, "url": url, "api_url": url + "/api",
             "started": time.time(), "log": str(log)}  # fmt: skip
    _write_state(settings, state)
    deadline = time.monotonic() + timeout
    while not http_ok(state["api_url"] + "/health"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_entry(state)
            _forget(settings, proc.pid)
            why = "exited during start" if proc.returncode is not None else f"did not answer in {timeout:.0f} s"
            raise StackError(f"the background Prefect server {why}; last lines of {log}:\n{log_tail(log)}")
        time.sleep(0.25)
    state["ready_s"] = round(time.time() - state["started"], 2)
    state["database"] = database
    _write_state(settings, state)
    if database == "migrated":
        _save_template(settings)
    return state


def ensure_server(settings: Settings, timeout: float = START_TIMEOUT_S) -> str:
    """The API URL of the home's background server, started if none answers; this process holds it till exit."""
    with _locked(settings):
        state = read_state(settings)
        if state is not None and not (is_alive(state) and _healthy(state, HEALTH_WAIT_S)):
            stop_entry(state)  # crashed or hung: replaced
            _forget(settings, state["pid"])
            state = None
        if state is None:
            try:
                state = _spawn(settings, timeout)
            except StackError:  # the free port may have been taken between the check and the bind: once more
                state = _spawn(settings, timeout)
        _take_lease(settings)
        return str(state["api_url"])


def server_status(settings: Settings) -> dict:
    """What ``embedforge server status`` shows: pid, URL, health, the commands holding it, idle seconds."""
    state = read_state(settings) or {}
    running = bool(state) and is_alive(state)
    return {
        **state,
        "running": running,
        "healthy": running and http_ok(state["api_url"] + "/health"),
        "clients": live_leases(settings),
        "idle_s": idle_for(settings) if running else None,
        "idle_limit_s": settings.server_idle_s,
    }


def stop_server(settings: Settings) -> bool:
    """Stop the background server (and its supervisor); True if one was running."""
    with _locked(settings):
        state = read_state(settings)
        if state is None:
            return False
        _forget(settings, state["pid"])
        return stop_entry(state)


# -- the supervisor ----------------------------------------------------------------------------------------
def _should_stop(settings: Settings, idle_s: float) -> bool:
    idle = idle_for(settings)
    return idle is not None and idle > idle_s


def supervise(port: int, idle_s: float) -> int:
    """Run ``prefect server start`` until it exits or stays idle past ``idle_s``; its exit code."""
    settings = Settings()
    me = os.getpid()
    cmd = [str(venv_bin() / "prefect"), "server", "start", "--host", HOST, "--port", str(port), "--analytics-off"]
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)  # same process group: a group kill stops both

    def on_term(*_: object) -> None:
        child.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while child.poll() is None:
        time.sleep(POLL_S)
        if _should_stop(settings, idle_s):
            with _locked(settings):  # no command adopts it between this check and the state's removal
                if not _should_stop(settings, idle_s):
                    continue
                _forget(settings, me)
            print(f"idle for more than {idle_s:.0f} s: stopping", flush=True)
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
            return 0
    _forget(settings, me)
    return int(child.returncode or 0)


if __name__ == "__main__":
    sys.exit(supervise(int(sys.argv[1]), float(sys.argv[2])))
