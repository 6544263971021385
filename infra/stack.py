"""The local stack: a Prefect server, a process worker and an MLflow server, detached, on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from embedforge.registry.redact import redact, redact_all
from embedforge.registry.settings import Settings, quiet_env

START_TIMEOUT_S = 180.0  # a fresh Prefect or MLflow database migrates on first start (10-20 s here, more under load)
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 120.0
SERVICES = ("prefect-server", "mlflow", "prefect-worker")
# Where Prefect is and what it stores come from Settings only, never from a caller's leftover variables.
INHERITED_PREFECT = (
    "PREFECT_API_",
    "PREFECT_HOME",
    "PREFECT_PROFILE",
    "PREFECT_SERVER_DATABASE_",
    "PREFECT_SERVER_API_",
    "PREFECT_UI_",
)


class StackError(RuntimeError):
    """The stack could not start, stop or be reached; the message says what to do (credentials redacted)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


@dataclass
class Service:
    """One process of the stack: how it is started and how to tell it is ready."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    url: str | None = None
    health: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


# -- paths, URLs and environments -------------------------------------------------------------------------
def stack_dir(settings: Settings) -> Path:
    return settings.home / "stack"


def pids_file(settings: Settings) -> Path:
    return stack_dir(settings) / "pids.json"


def venv_bin() -> Path:
    """The bin directory of the interpreter running us: prefect, mlflow and uvicorn live there."""
    return Path(sys.executable).parent


def project_root() -> Path:
    """The checkout holding flows/ and prefect.yaml (deployments load flows from here)."""
    return Path(__file__).resolve().parent.parent


def prefect_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.prefect_port}"


def prefect_api_url(settings: Settings) -> str:
    return prefect_url(settings) + "/api"


def mlflow_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.mlflow_port}"


def mlflow_backend_uri(settings: Settings) -> str:
    """The store the MLflow server serves: the configured database, or the default SQLite file."""
    uri = settings.mlflow_uri
    if uri.startswith(("http://", "https://")):
        return f"sqlite:///{settings.home / 'mlflow' / 'mlflow.db'}"
    return uri


def settings_env(settings: Settings) -> dict[str, str]:
    """EMBEDFORGE_* variables that rebuild these settings in a child process (flows call Settings())."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"EMBEDFORGE_{name.upper()}"] = str(value)
    return env


def base_env(settings: Settings) -> dict[str, str]:
    """Our environment, quiet, with the venv's bin first on PATH and Prefect pointed at our home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFECT)}
    env.update(quiet_env())
    env.update(settings_env(settings))
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(settings.prefect_dir)
    env["PREFECT_API_URL"] = prefect_api_url(settings)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def client_env(settings: Settings) -> dict[str, str]:
    """Environment for flow runs and CLI calls against the running stack: tracking goes to its server."""
    env = base_env(settings)
    if not settings.tracking_uri:
        env["EMBEDFORGE_TRACKING_URI"] = mlflow_url(settings)
    env["MLFLOW_TRACKING_URI"] = env.get("EMBEDFORGE_TRACKING_URI", settings.mlflow_uri)
    root = str(project_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# -- service definitions ----------------------------------------------------------------------------------
def prefect_server(settings: Settings) -> Service:
    env = base_env(settings)
    env.pop("PREFECT_API_URL")  # the server itself must not think it is a client of another server
    env["PREFECT_UI_API_URL"] = prefect_api_url(settings)  # else the UI asks port 4200 whatever the server's port
    if settings.prefect_db_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = settings.prefect_db_url
    cmd = [
        str(venv_bin() / "prefect"),
        "server",
        "start",
        "--host",
        settings.host,
        "--port",
        str(settings.prefect_port),
        "--analytics-off",
    ]
    return Service(
        "prefect-server",
        cmd,
        env,
        stack_dir(settings) / "prefect-server.log",
        settings.prefect_port,
        prefect_url(settings),
        prefect_api_url(settings) + "/health",
    )


def mlflow_server(settings: Settings) -> Service:
    env = base_env(settings)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    artifacts = settings.mlflow_artifacts
    if "://" not in artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    backend = mlflow_backend_uri(settings)
    env["MLFLOW_BACKEND_STORE_URI"] = backend  # the environment, not argv: `ps` shows argv to every user
    if backend.startswith("sqlite:///"):
        Path(backend.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # Plain artifact paths (not proxied): runs logged straight to the SQLite file or through
    # this server resolve to the same files, so `mlflow models serve` works either way.
    cmd = [
        str(venv_bin() / "mlflow"),
        "server",
        "--default-artifact-root",
        artifacts,
        "--no-serve-artifacts",
        "--host",
        settings.host,
        "--port",
        str(settings.mlflow_port),
        "--workers",
        "1",
    ]
    return Service(
        "mlflow",
        cmd,
        env,
        stack_dir(settings) / "mlflow.log",
        settings.mlflow_port,
        mlflow_url(settings),
        mlflow_url(settings) + "/health",
    )


def prefect_worker(settings: Settings) -> Service:
    env = client_env(settings)
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"
    cmd = [
        str(venv_bin() / "prefect"),
        "worker",
        "start",
        "--pool",
        settings.work_pool,
        "--type",
        "process",
        "--name",
        f"embedforge-{settings.prefect_port}",
    ]
    return Service(
        "prefect-worker", cmd, env, stack_dir(settings) / "prefect-worker.log", extra={"pool": settings.work_pool}
    )


# -- process bookkeeping ----------------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat else None


def is_alive(entry: dict) -> bool:
    """The recorded process still runs (same pid and start time, not a zombie)."""
    stat = _proc_stat(int(entry["pid"]))
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return entry.get("ticks") in (None, stat[19])


def group_members(pgid: int) -> list[int]:
    """Live processes in a process group: a server and the workers it forked."""
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            stat = _proc_stat(int(proc.name))
            if stat and stat[0] not in ("Z", "X") and int(stat[2]) == pgid:
                members.append(int(proc.name))
    return members


def read_pids(settings: Settings) -> dict[str, dict]:
    path = pids_file(settings)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def _write_pids(settings: Settings, entries: dict[str, dict]) -> None:
    path = pids_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(json.dumps(entries, indent=2)))  # command lines may carry backend URIs
    tmp.chmod(0o600)
    tmp.replace(path)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return redact("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    except OSError:
        return "(no log)"


def spawn(service: Service) -> dict:
    """Start a service detached (own session) with its output in its log file."""
    service.log.parent.mkdir(parents=True, exist_ok=True)
    with open(service.log, "ab") as log:
        proc = subprocess.Popen(
            service.cmd,
            env=service.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=service.log.parent,
        )
    return {
        "pid": proc.pid,
        "ticks": _start_ticks(proc.pid),
        "port": service.port,
        "url": service.url,
        "log": str(service.log),
        "cmd": redact_all(service.cmd),
        "started": time.time(),
        **service.extra,
    }


def wait_ready(service: Service, entry: dict, check, timeout: float = START_TIMEOUT_S) -> float:
    """Poll ``check()`` until it passes; fail early, with the log's tail, if the process dies."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        if not is_alive(entry):
            raise StackError(
                f"{service.name} exited during start; last lines of {service.log}:\n{log_tail(service.log)}"
            )
        time.sleep(0.25)
    raise StackError(
        f"{service.name} did not become ready in {timeout:.0f} s; see {service.log}:\n{log_tail(service.log)}"
    )


def stop_entry(entry: dict, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the service's process group, SIGKILL what is left after ``timeout``; True if it was running."""
    pid = int(entry["pid"])
    if not is_alive(entry):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_members(pid):
                return True
            time.sleep(0.1)
    return True


# -- Prefect helpers ---------------------------------------------------------------------------------------
def run_prefect(
    settings: Settings,
    *args: str,
    timeout: float = CLI_TIMEOUT_S,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the venv's ``prefect`` CLI against the stack, bounded in time, without prompts."""
    cmd = [str(venv_bin() / "prefect"), "--no-prompt", *args]
    try:
        return subprocess.run(
            cmd,
            env=env or client_env(settings),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"`prefect {' '.join(args)}` did not finish in {timeout:.0f} s") from exc


def ensure_work_pool(settings: Settings, api_url: str | None = None) -> bool:
    """Create the process work pool if the server lacks it; True if it was created."""
    api_url = api_url or prefect_api_url(settings)
    if http_ok(f"{api_url}/work_pools/{settings.work_pool}"):
        return False
    env = {**client_env(settings), "PREFECT_API_URL": api_url}
    done = run_prefect(settings, "work-pool", "create", settings.work_pool, "--type", "process", env=env)
    if done.returncode != 0 and "already exists" not in done.stdout + done.stderr:
        raise StackError(f"could not create work pool {settings.work_pool!r}:\n{done.stdout}{done.stderr}")
    return True


def worker_online(settings: Settings, name: str) -> bool:
    """The worker has sent a heartbeat to its pool."""
    url = f"{prefect_api_url(settings)}/work_pools/{settings.work_pool}/workers/filter"
    req = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=2.0) as resp:
            workers = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(w.get("name") == name and w.get("status") == "ONLINE" for w in workers)


# -- the three commands -------------------------------------------------------------------------------------
def running(settings: Settings) -> dict[str, dict]:
    """Recorded services whose process is still alive."""
    return {name: e for name, e in read_pids(settings).items() if is_alive(e)}


def _check_startable(settings: Settings) -> None:
    alive = running(settings)
    if alive:
        pids = ", ".join(f"{n} pid {e['pid']}" for n, e in alive.items())
        raise StackError(f"the stack in {settings.home} is already running ({pids}); `embedforge stack down` stops it")
    for what, port, flag in (
        ("Prefect server", settings.prefect_port, "--prefect-port"),
        ("MLflow server", settings.mlflow_port, "--mlflow-port"),
    ):
        if not port_free(settings.host, port):
            raise StackError(
                f"port {port} on {settings.host} is already in use (wanted for the {what}); free it or pass {flag}"
            )
    if settings.prefect_port == settings.mlflow_port:
        raise StackError(f"the Prefect and MLflow servers cannot share port {settings.prefect_port}")


def stack_up(settings: Settings, timeout: float = START_TIMEOUT_S) -> dict[str, dict]:
    """Start server, MLflow and worker detached; return their records once each answers its health check."""
    _check_startable(settings)
    stack_dir(settings).mkdir(parents=True, exist_ok=True)
    settings.prefect_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    try:
        servers = [prefect_server(settings), mlflow_server(settings)]
        for svc in servers:  # both migrate their databases at first start: let them do it together
            entries[svc.name] = spawn(svc)
            _write_pids(settings, entries)
        for svc in servers:
            wait_ready(svc, entries[svc.name], lambda s=svc: http_ok(s.health), timeout)
            entries[svc.name]["ready_s"] = round(time.time() - entries[svc.name]["started"], 2)
        t0 = time.time()
        entries["prefect-server"]["pool_created"] = ensure_work_pool(settings)
        worker = prefect_worker(settings)
        entries[worker.name] = spawn(worker)
        _write_pids(settings, entries)
        wait_ready(worker, entries[worker.name], lambda: worker_online(settings, worker.cmd[-1]), timeout)
        entries[worker.name]["ready_s"] = round(time.time() - t0, 2)
    except BaseException:
        for entry in entries.values():
            stop_entry(entry)
        pids_file(settings).unlink(missing_ok=True)
        raise
    _write_pids(settings, entries)
    return entries


@dataclass
class ServiceStatus:
    """What ``stack status`` reports for one service."""

    name: str
    pid: int | None
    running: bool
    healthy: bool
    url: str | None
    log: str | None


def stack_status(settings: Settings) -> list[ServiceStatus]:
    """Each recorded service: is its process alive, does it answer its health check."""
    entries = read_pids(settings)
    out = []
    for name in SERVICES:
        entry = entries.get(name)
        if entry is None:
            out.append(ServiceStatus(name, None, False, False, None, None))
            continue
        alive = is_alive(entry)
        if name == "prefect-worker":
            healthy = alive and worker_online(settings, entry["cmd"][-1])
        else:
            health = entry["url"] + ("/api/health" if name == "prefect-server" else "/health")
            healthy = alive and http_ok(health)
        out.append(ServiceStatus(name, entry["pid"], alive, healthy, entry.get("url"), entry.get("log")))
    return out


def stack_down(settings: Settings) -> dict[str, bool]:
    """Stop every recorded service (worker first); name -> whether it was running."""
    entries = read_pids(settings)
    stopped = {}
    for name in reversed(SERVICES):
        if name in entries:
            stopped[name] = stop_entry(entries[name])
    pids_file(settings).unlink(missing_ok=True)
    return stopped
