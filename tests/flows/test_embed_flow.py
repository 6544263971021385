"""The embed flow under a real (ephemeral) Prefect API, on threads and on Dask."""

import numpy as np
import pytest

from embedforge.flows.embed import run_embed
from embedforge.flows.params import EmbedParams, RunnerParams
from embedforge.tasks.features import load_features


def _params(arrays_dir, db, **kw):
    return EmbedParams(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db=db, dataset_name="a", shard_size=4, **kw)


def test_flow_embeds_then_skips(prefect_harness, arrays_dir, tmp_path):
    db = str(tmp_path / "db")
    (arrays_dir / "bad.npy").write_bytes(b"garbage")
    first = run_embed(_params(arrays_dir, db))
    assert (first["embedded"], first["failed"], first["shards"]) == (12, 1, 4)
    assert "bad.npy" in first["failures"][0]["error"]
    runs = _flow_run_count()
    second = run_embed(_params(arrays_dir, db))
    assert (second["embedded"], second["skipped"], second["failed"]) == (0, 12, 1)  # the failed item is tried again
    assert _flow_run_count() == runs + 1


def test_rerun_with_nothing_to_do_starts_no_flow_run(prefect_harness, arrays_dir, tmp_path):
    db = str(tmp_path / "db")
    run_embed(_params(arrays_dir, db))
    runs = _flow_run_count()
    again = run_embed(_params(arrays_dir, db))
    assert (again["embedded"], again["skipped"], again["shards"]) == (0, 12, 0)
    assert _flow_run_count() == runs  # the plan found nothing: no flow run paid for


def _flow_run_count() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def test_params_are_strict():
    with pytest.raises(ValueError):
        EmbedParams(dataset="x:y", encoder="e", shard_size=0)
    with pytest.raises(ValueError):
        EmbedParams(dataset="x:y", encoder="e", unknown=1)


@pytest.mark.slow
def test_dask_run_stores_the_same_vectors(prefect_harness, arrays_dir, tmp_path):
    run_embed(_params(arrays_dir, str(tmp_path / "threads")))
    run_embed(_params(arrays_dir, str(tmp_path / "dask"), runner=RunnerParams(kind="dask", workers=2)))
    a, b = load_features(str(tmp_path / "threads"), "test/tiny"), load_features(str(tmp_path / "dask"), "test/tiny")
    assert a.ids == b.ids and len(a.ids) == 12
    np.testing.assert_array_equal(a.X, b.X)


def test_run_ends_with_counts_and_a_summary_artifact(prefect_harness, arrays_dir, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.utilities.asyncutils import run_coro_as_sync

    from embedforge.flows.embed import embed_flow

    state = run_coro_as_sync(embed_flow(_params(arrays_dir, str(tmp_path / "db")), return_state=True))
    assert state.is_completed() and state.message == "embedded 12, reused 0, skipped 0, failed 0"
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    kinds = {(a.type, a.key) for a in found}
    assert ("markdown", "embed-summary") in kinds and ("progress", None) in kinds
    summary = next(a for a in found if a.key == "embed-summary")
    assert "| 12 | 12 | 0 | 0 | 0 |" in summary.data
