"""Register prefect.yaml's deployments on the running stack, trigger runs over REST, serve registered models."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from embedforge.infra.stack import (
    StackError,
    client_env,
    ensure_work_pool,
    http_ok,
    mlflow_url,
    prefect_api_url,
    project_root,
    run_prefect,
    running,
    venv_bin,
)
from embedforge.registry.settings import Settings

DEPLOY_TIMEOUT_S = 300.0
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def prefect_file(root: Path | None = None) -> Path:
    return (root or project_root()) / "prefect.yaml"


def declared(root: Path | None = None) -> list[dict[str, Any]]:
    """The deployments prefect.yaml declares."""
    import yaml

    return yaml.safe_load(prefect_file(root).read_text()).get("deployments") or []


def split_ready(specs: list[dict[str, Any]], root: Path | None = None) -> tuple[list[dict], list[dict]]:
    """Deployments whose flow file exists here, and those whose flow is not written yet."""
    root = root or project_root()
    ready = [d for d in specs if (root / d["entrypoint"].split(":", 1)[0]).exists()]
    return ready, [d for d in specs if d not in ready]


def api(
    settings: Settings, method: str, path: str, body: Any = None, timeout: float = 10.0, api_url: str | None = None
) -> Any:
    """One JSON call to the Prefect REST API (the local stack's unless ``api_url`` is given).

    A busy server answers 429, 502 or 503 (SQLite locked by another writer: the transaction was rolled back), and
    Prefect's own client retries those; so does this, RETRIES times with backoff (``Retry-After`` when sent).
    """
    base = api_url or prefect_api_url(settings)
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(RETRIES + 1):
        req = urllib.request.Request(
            base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if exc.code not in RETRY_CODES or attempt == RETRIES:
                raise StackError(f"Prefect API {method} {path}: {exc.code} {text}") from exc
            time.sleep(_backoff(attempt, exc.headers.get("Retry-After")))
        except (urllib.error.URLError, OSError) as exc:
            raise StackError(f"Prefect API at {base} unreachable ({exc}); `embedforge stack up` starts it") from exc
    raise AssertionError("unreachable")  # the loop returns or raises


RETRIES = 5
RETRY_CODES = (429, 502, 503)


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before the next try: the server's ``Retry-After`` (seconds) where given, else 0.25 s doubling to 4 s."""
    try:
        return min(float(retry_after), 10.0) if retry_after else min(0.25 * 2**attempt, 4.0)
    except ValueError:  # an HTTP date: the doubling instead
        return min(0.25 * 2**attempt, 4.0)


def require_server(api_url: str) -> None:
    if not http_ok(api_url + "/health"):
        raise StackError(f"no Prefect server answers at {api_url}; `embedforge stack up` first")


def deploy(
    settings: Settings, names: list[str] | None = None, api_url: str | None = None, timeout: float = DEPLOY_TIMEOUT_S
) -> tuple[list[dict], list[dict]]:
    """Run ``prefect deploy`` for every declared deployment whose flow exists; return (deployed, skipped).

    Runs will execute from this checkout (prefect.yaml has no pull step, so Prefect records the directory
    deployed from): deploy from where the worker sees the code, e.g. inside the worker's container.
    """
    api_url = api_url or prefect_api_url(settings)
    require_server(api_url)
    ensure_work_pool(settings, api_url)
    specs = [d for d in declared() if not names or d["name"] in names]
    unknown = sorted(set(names or []) - {d["name"] for d in specs})
    if unknown:
        raise StackError(f"prefect.yaml declares no deployment named {', '.join(unknown)}")
    ready, skipped = split_ready(specs)
    if not ready:
        return [], skipped
    args = ["deploy", "--prefect-file", str(prefect_file())]
    for spec in ready:
        args += ["--name", spec["name"]]
    env = {**client_env(settings), "PREFECT_API_URL": api_url}
    done = run_prefect(settings, *args, timeout=timeout, cwd=project_root(), env=env)
    if done.returncode != 0:
        raise StackError(f"prefect deploy failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return [deployment(settings, s["name"], api_url) for s in ready], skipped


def deployment(settings: Settings, name: str, api_url: str | None = None) -> dict[str, Any]:
    """A deployment by its deployment name (or ``flow/deployment``)."""
    if "/" in name:
        flow_name, dep_name = (urllib.parse.quote(p) for p in name.split("/", 1))
        return api(settings, "GET", f"/deployments/name/{flow_name}/{dep_name}", api_url=api_url)
    found = api(settings, "POST", "/deployments/filter", {"deployments": {"name": {"any_": [name]}}}, api_url=api_url)
    if not found:
        raise StackError(
            f"no deployment named {name!r} on {api_url or prefect_api_url(settings)}; `embedforge deploy` first"
        )
    return found[0]


def trigger(settings: Settings, name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the UI's Run button does: create a flow run of a deployment with these parameters."""
    dep = deployment(settings, name)
    return api(settings, "POST", f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters or {}})


def wait_flow_run(settings: Settings, run_id: str, timeout: float = 300.0, poll: float = 0.5) -> dict[str, Any]:
    """Poll a flow run until it reaches a final state (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        run = api(settings, "GET", f"/flow_runs/{run_id}")
        if (run.get("state") or {}).get("type") in FINAL_STATES:
            return run
        if time.monotonic() > deadline:
            state = (run.get("state") or {}).get("name")
            raise StackError(f"flow run {run_id} still {state} after {timeout:.0f} s")
        time.sleep(poll)


def serving_tracking_uri(settings: Settings) -> str:
    """Where `mlflow models serve` resolves ``models:/``: the configured URI, the stack's server, or the file."""
    if settings.tracking_uri:
        return settings.tracking_uri
    if "mlflow" in running(settings) and http_ok(mlflow_url(settings) + "/health"):
        return mlflow_url(settings)
    return settings.mlflow_uri


def serve_command(
    settings: Settings, model: str, port: int, host: str = "127.0.0.1", workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    """uvicorn running MLflow's scoring server for ``MODEL@ALIAS`` (or a full models:/ URI) behind the request
    boundary of ``infra/serving.py``, in this environment (what ``mlflow models serve --env-manager local`` runs,
    plus a body-size limit and error answers without stack traces)."""
    from embedforge.infra.serving import MODEL_ENV

    uri = model if "://" in model or model.startswith("models:/") else f"models:/{model}"
    cmd = [
        str(venv_bin() / "uvicorn"),
        "--factory",
        "embedforge.infra.serving:build_app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = client_env(settings)
    env["MLFLOW_TRACKING_URI"] = serving_tracking_uri(settings)
    env[MODEL_ENV] = uri
    return cmd, env
