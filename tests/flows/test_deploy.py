"""Deployments from prefect.yaml on a real local stack: a UI-style run lands vectors; a registered model serves."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from embedforge.infra.deploy import (
    StackError,
    declared,
    deploy,
    deployment,
    serve_command,
    split_ready,
    trigger,
    wait_flow_run,
)
from embedforge.infra.stack import project_root, settings_env, stack_down, stack_up, venv_bin
from embedforge.registry.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_flow(entrypoint: str):
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(f"_deploy_check_{name}", project_root() / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# -- prefect.yaml, checked without a server ------------------------------------------------------------------
def test_every_user_facing_flow_is_declared_on_the_configured_pool():
    specs = {d["name"]: d for d in declared()}
    assert {"embed", "train-heightceleb", "leaderboard"} <= set(specs)
    assert specs["embed"]["entrypoint"] == "flows/embed.py:embed_flow"
    for spec in specs.values():
        assert spec["work_pool"]["name"] == "{{ $EMBEDFORGE_WORK_POOL }}", spec["name"]


def test_declared_flows_load_and_schedule_parameters_fit_their_pydantic_models():
    """A schedule whose parameters drift from the flow's parameter model would fail every night."""
    ready, _ = split_ready(declared())
    assert "embed" in [d["name"] for d in ready]
    for spec in ready:
        flow = load_flow(spec["entrypoint"])
        for sched in spec.get("schedules") or []:  # a schedule's parameters override the deployment's
            params = {**spec.get("parameters", {}), **sched.get("parameters", {})}
            params = json.loads(json.dumps(params).replace("{{ $EMBEDFORGE_HOME }}", "/data"))
            flow.validate_parameters(params)  # raises ParameterTypeError on a mismatch


def test_nightly_embed_schedule_names_a_registered_encoder_and_dataset_adapter():
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.datasets import DATASETS
    from embedforge.registry.encoders import ENCODERS

    load_catalog()
    embed = next(d for d in declared() if d["name"] == "embed")
    (nightly,) = embed["schedules"]
    params = nightly["parameters"]["params"]
    assert nightly["cron"] == "0 2 * * *" and nightly["active"] is True
    assert params["dataset"].split(":", 1)[1].startswith("{{ $EMBEDFORGE_HOME }}/landing")
    assert params["encoder"] in ENCODERS and params["dataset"].split(":", 1)[0] in DATASETS
    from embedforge.registry.encoders import build_encoder

    assert build_encoder(params["encoder"]).identity()["dim"] > 0  # its default weights load offline, as here


def test_summary_artifacts_say_where_the_vectors_and_the_run_are():
    from embedforge.tasks.report import summary_markdown
    from embedforge.tasks.tracking import where_markdown

    summary = {"table": "speech__ge2e", "dataset": "landing", "db": "/data/lancedb", "items": 3, "embedded": 3,
               "reused": 0, "skipped": 0, "failed": 0, "failures": []}  # fmt: skip
    text = summary_markdown(summary, "speech/ge2e")
    assert "`speech__ge2e` of `/data/lancedb`" in text
    assert "embedforge search --encoder speech/ge2e --dataset landing --query FILE" in text
    result = {"run_id": "r1", "models": {"raw": {"registered_name": "hc", "version": 2, "alias": "champion"}}}
    where = where_markdown(result, "http://127.0.0.1:5000")
    assert "http://127.0.0.1:5000/#/runs/r1" in where and "models:/hc@champion" in where


def test_serve_command_uses_this_venv_and_the_configured_tracking_store(tmp_path):
    s = Settings(home=tmp_path, tracking_uri=f"sqlite:///{tmp_path}/t.db")
    cmd, env = serve_command(s, "heights@champion", port=5123)
    assert cmd[0] == str(venv_bin() / "uvicorn") and cmd[1:3] == ["--factory", "embedforge.infra.serving:build_app"]
    assert env["EMBEDFORGE_SERVE_MODEL"] == "models:/heights@champion" and cmd[cmd.index("--port") + 1] == "5123"
    assert env["PATH"].split(os.pathsep)[0] == str(venv_bin())
    assert env["MLFLOW_TRACKING_URI"] == s.tracking_uri and env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert serve_command(s, "models:/m/3", port=1)[1]["EMBEDFORGE_SERVE_MODEL"] == "models:/m/3"


def test_deploy_without_a_server_says_how_to_start_one(tmp_path):
    s = Settings(home=tmp_path, prefect_port=free_port())
    with pytest.raises(StackError, match="embedforge stack up"):
        deploy(s)


# -- the real thing -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A stack whose worker can see the test encoder and dataset (EMBEDFORGE_PLUGINS), with deployments."""
    s = Settings(
        home=tmp_path_factory.mktemp("deploy-home"),
        prefect_port=free_port(),
        mlflow_port=free_port(),
        plugins="tests.fakes",
    )
    try:
        stack_up(s)
        t0 = time.monotonic()
        ready, skipped = deploy(s)
        print(f"deployed {[d['name'] for d in ready]} in {time.monotonic() - t0:.1f} s")
        yield s, {d["name"]: d for d in ready}, skipped
    finally:
        stack_down(s)


@pytest.mark.slow
def test_deploy_registers_each_existing_flow_with_its_schedule(deployed):
    s, ready, skipped = deployed
    declared_names = {d["name"] for d in declared()}
    assert set(ready) | {d["name"] for d in skipped} == declared_names
    embed = ready["embed"]
    assert embed["work_pool_name"] == s.work_pool and not embed["paused"]
    assert embed["enforce_parameter_schema"] is True
    assert "params" in embed["parameter_openapi_schema"]["properties"]  # typed form in the UI
    (nightly,) = embed["schedules"]
    assert nightly["active"] is True and nightly["schedule"]["cron"] == "0 2 * * *"
    assert nightly["parameters"]["params"]["dataset"] == f"voxceleb:{s.home}/landing/voxceleb"


@pytest.mark.slow
def test_ui_run_with_parameters_embeds_into_lancedb(deployed, arrays_dir):
    """POST /deployments/{id}/create_flow_run (the Run button), picked up by the worker, vectors stored."""
    from embedforge.tasks.store import VectorStore

    s, _, _ = deployed
    db = str(s.home / "run-db")
    params = {
        "params": {
            "dataset": f"arrays:{arrays_dir}",
            "encoder": "test/tiny",
            "db": db,
            "shard_size": 5,
            "dataset_name": "ui",
        }
    }
    t0 = time.monotonic()
    run = trigger(s, "embed", params)
    assert run["state"]["type"] == "SCHEDULED" and run["parameters"] == params
    final = wait_flow_run(s, run["id"], timeout=300)
    print(f"trigger -> {final['state']['type']} in {time.monotonic() - t0:.1f} s")
    assert final["state"]["type"] == "COMPLETED", final["state"]
    store = VectorStore(db)
    assert store.tables() == ["test__tiny"] and store.count("test__tiny") == 12
    rows = store.rows("test__tiny", "ui")
    assert sorted(rows["id"].to_pylist()) == sorted(p.name for p in arrays_dir.glob("*.npy"))


@pytest.mark.slow
def test_run_with_parameters_outside_the_model_is_rejected(deployed):
    s, _, _ = deployed
    with pytest.raises(StackError, match=r"409|422"):
        trigger(s, "embed", {"params": {"dataset": "arrays:/x"}})  # encoder missing
    with pytest.raises(StackError, match=r"409|422"):
        trigger(s, "embed", {"params": {"dataset": "arrays:/x", "encoder": "test/tiny", "shard_size": 0}})
    assert deployment(s, "embed/embed")["name"] == "embed"


@pytest.mark.slow
def test_serve_a_registered_model_by_alias(deployed, tmp_path):
    """`embedforge serve NAME@ALIAS` answers /invocations with the model's predictions."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    s, _, _ = deployed
    client = mlflow.MlflowClient(tracking_uri=f"http://{s.host}:{s.mlflow_port}")
    X = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        with mlflow.start_run(experiment_id=client.create_experiment("serve-check")):
            info = mlflow.sklearn.log_model(
                model,
                name="head",
                registered_model_name="tiny-head",
                pip_requirements=["scikit-learn"],
                input_example=X[:2],
            )
    finally:
        mlflow.set_tracking_uri(None)
    client.set_registered_model_alias("tiny-head", "champion", info.registered_model_version)
    port = free_port()
    env = {**os.environ, **settings_env(s)}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115  (open for the server process's lifetime)
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedforge.flows.cli", "serve", "tiny-head@champion", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, body = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    method="POST",
                    data=json.dumps({"inputs": X[:5].tolist()}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                body = json.loads(urllib.request.urlopen(req, timeout=10).read())
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, (tmp_path / "serve.log").read_text()[-3000:]
        assert body["predictions"] == model.predict(X[:5]).tolist()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_scheduler_queues_the_nightly_runs(deployed):
    """Last: the scheduler service (a 60 s loop) fills in upcoming 02:00 runs with the schedule's parameters."""
    from embedforge.infra.deploy import api

    s, ready, _ = deployed
    query = {
        "deployments": {"id": {"any_": [ready["embed"]["id"]]}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
    }
    deadline, scheduled = time.monotonic() + 150, []
    while not scheduled and time.monotonic() < deadline:
        scheduled = [r for r in api(s, "POST", "/flow_runs/filter", query) if r["auto_scheduled"]]
        time.sleep(2)
    assert scheduled, "the scheduler created no runs for the nightly schedule"
    assert all(r["expected_start_time"][11:16] == "02:00" for r in scheduled)
    assert all(r["parameters"]["params"]["dataset"].endswith("/landing/voxceleb") for r in scheduled)
