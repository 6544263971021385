"""The whole chain on object storage (moto's S3 server): vectors in LanceDB at s3://, a head trained and
registered through an MLflow server whose artifacts live at ``--artifacts-destination s3://``, then served by
``embedforge serve`` from there."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.store import VectorStore
from embedforge.tasks.train_head import train_head
from tests.s3_helpers import environ, moto_server
from tests.serving_helpers import Server, free_port

pytestmark = pytest.mark.slow


def mlflow_server(root, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` proxying artifacts to the bucket (callers never need the bucket's credentials)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--artifacts-destination", "s3://embedforge/mlflow", "--serve-artifacts", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=open(root / "mlflow.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((root / "mlflow.log").read_text()[-3000:]) from None
            time.sleep(0.5)


def test_embed_train_register_and_serve_with_everything_on_s3(arrays_dir, tmp_path):
    import os

    import boto3

    with moto_server() as s3, environ(s3):
        db = "s3://embedforge/lancedb"
        plan = plan_embedding(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db,
                              work_dir=str(tmp_path / "w"), dataset_name="a")  # fmt: skip
        assert sum(embed_shard(shard_path=p, encoder="test/tiny", db_uri=db).embedded for p in plan.shards) == 12
        tracking_proc, tracking = mlflow_server(tmp_path, {**os.environ, **s3})
        try:
            out = train_head(db_uri=db, encoder="test/tiny", head="classify/logreg", label="label",
                             tracking_uri=tracking, registered_name="s3-clf")  # fmt: skip
            assert out["metrics"]["accuracy"] >= 0.75
            listed = boto3.client("s3").list_objects_v2(Bucket="embedforge", Prefix="mlflow/")
            stored = [o["Key"] for o in listed.get("Contents", [])]
            assert any(k.endswith("/MLmodel") for k in stored) and any(k.endswith("confusion.png") for k in stored)
            server = Server("s3-clf-head@champion", tracking, tmp_path / "serve.log")
            try:
                server.wait_ready()
                rows = VectorStore(db).rows(plan.table)
                test = [v for v, s in zip(rows["vector"].to_pylist(), rows["split"].to_pylist(), strict=True)
                        if s == "test"]  # fmt: skip
                status, answer = server.post({"inputs": np.asarray(test).tolist()})
                assert status == 200 and len(answer["predictions"]) == len(test), answer
            finally:
                server.stop()
        finally:
            tracking_proc.terminate()
            tracking_proc.wait(20)
