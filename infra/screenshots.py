"""``make screenshots``: the Prefect and MLflow UIs as a user meets them, after a small demo, as PNGs.

Brings up the local stack in a temporary home on free ports, runs ``embedforge demo`` (synthetic voices -> GE2E
-> LanceDB -> a registered HeightCeleb head) and ``embedforge deploy``, then has headless Chromium (Debian's
``chromium``) photograph the pages people open first; the stack is stopped whatever happens. Not part of CI:
it needs Chromium and a minute or two.
    python -m embedforge.infra.screenshots infra/screenshots
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

WIDTH, HEIGHT = 1400, 900
BUDGET_MS = 20_000  # virtual time for the single-page apps to fetch and draw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    done = subprocess.run([sys.executable, "-m", "embedforge.flows.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"embedforge {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def shoot(url: str, path: Path, profile: Path) -> Path:
    """One page, rendered by headless Chromium after its scripts had BUDGET_MS of virtual time."""
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", f"--virtual-time-budget={BUDGET_MS}",
           f"--screenshot={path}", url]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=180, check=True)
    return path


def _first_run(mlflow: str, experiment: str) -> tuple[str, str] | None:
    """(experiment id, run id) of the newest run of an experiment, through MLflow's REST API."""

    def post(route: str, body: dict) -> dict:
        req = urllib.request.Request(f"{mlflow}/api/2.0/mlflow/{route}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    with urllib.request.urlopen(f"{mlflow}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}",
                                timeout=30) as resp:  # fmt: skip
        exp = json.loads(resp.read())["experiment"]["experiment_id"]
    runs = post("runs/search", {"experiment_ids": [exp], "max_results": 1}).get("runs", [])
    return (exp, runs[0]["info"]["run_id"]) if runs else None


def main(out: Path) -> list[Path]:
    if shutil.which("chromium") is None:
        raise SystemExit("chromium not found: install Debian's chromium package")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="embedforge-shots-"))
    prefect_port, mlflow_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "EMBEDFORGE_"))}
    env.update(EMBEDFORGE_HOME=str(tmp / "home"), EMBEDFORGE_PREFECT_PORT=str(prefect_port),
               EMBEDFORGE_MLFLOW_PORT=str(mlflow_port), HF_HUB_OFFLINE="1")  # fmt: skip
    prefect, mlflow = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    shots = []
    _cli(env, "stack", "up")
    try:
        _cli(env, "demo", "--speakers", "8", "--utterances", "2")
        _cli(env, "deploy")
        pages = {
            "prefect-runs.png": f"{prefect}/runs",
            "prefect-deployments.png": f"{prefect}/deployments",
            "mlflow-experiments.png": f"{mlflow}/#/experiments",
            "mlflow-models.png": f"{mlflow}/#/models",
        }
        found = _first_run(mlflow, "heightceleb")
        if found is not None:
            exp, run = found
            pages["mlflow-run-plots.png"] = f"{mlflow}/#/experiments/{exp}/runs/{run}/artifacts/plots/height_parity.png"
        for name, url in pages.items():
            shots.append(shoot(url, out / name, tmp / "chromium"))
    finally:
        _cli(env, "stack", "down", timeout=120)
    return shots


if __name__ == "__main__":
    for shot in main(Path(sys.argv[1] if len(sys.argv) > 1 else "infra/screenshots")):
        print(shot)
