"""Flow parameters are stored and shown in clear by Prefect: no credential may enter them."""

import pytest
from pydantic import ValidationError

from embedforge.flows.params import (
    BenchmarkParams,
    EmbedParams,
    HeightCelebParams,
    RunnerParams,
    SlideHeadParams,
    TrainHeadParams,
)
from tests.flows.test_cli import cli

SECRET = "hunter2"
CASES = [
    (EmbedParams, {"dataset": "arrays:/x", "encoder": "test/tiny"}, "db", f"s3://bucket/db?X-Amz-Signature={SECRET}"),
    (HeightCelebParams, {}, "tracking_uri", f"postgresql://bob:{SECRET}@db:5432/mlflow"),
    (TrainHeadParams, {"encoder": "test/tiny"}, "tracking_uri", f"https://bob:{SECRET}@mlflow.example.org"),
    (SlideHeadParams, {}, "db", f"gs://bucket/db?token={SECRET}"),
    (BenchmarkParams, {}, "tracking_uri", f"mysql://bob:{SECRET}@db/mlflow"),
    (RunnerParams, {"kind": "dask"}, "dask_address", f"tls://bob:{SECRET}@scheduler:8786"),
]


@pytest.mark.parametrize(("model", "base", "field", "value"), CASES)
def test_a_credential_in_a_parameter_is_refused_without_echoing_it(model, base, field, value):
    with pytest.raises(ValidationError) as err:
        model.model_validate({**base, field: value})
    assert SECRET not in str(err.value) and field in str(err.value) and "***" in str(err.value)
    clean = value.replace(f":{SECRET}@", "@").split("?")[0]
    assert getattr(model.model_validate({**base, field: clean}), field) == clean  # the same place without it is fine


def test_cli_names_the_setting_and_prints_no_trace():
    out = cli("train", "head", "--encoder", "test/tiny", "--tracking-uri", f"postgresql://bob:{SECRET}@db/mlflow")
    assert out.exit_code == 2, out.output
    assert "EMBEDFORGE_TRACKING_URI" in out.output and SECRET not in out.output and "Traceback" not in out.output


def test_cli_embed_keeps_the_configured_store_out_of_the_flow_parameters(
    prefect_harness, arrays_dir, tmp_path, monkeypatch
):
    from prefect.client.orchestration import get_client

    from embedforge.tasks.features import load_features

    db = str(tmp_path / "configured-db")
    monkeypatch.setenv("EMBEDFORGE_DB_URI", db)
    out = cli("embed", "--dataset", f"arrays:{arrays_dir}", "--encoder", "test/tiny", "--name", "cfgdb")
    assert out.exit_code == 0 and "embedded 12" in out.output, out.output[-3000:]
    assert len(load_features(db, "test/tiny").ids) == 12  # the rows went to the configured store
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
    ours = [r for r in runs if r.parameters.get("params", {}).get("dataset_name") == "cfgdb"]
    assert ours and all(r.parameters["params"]["db"] is None for r in ours)
    assert all(db not in str(r.parameters) for r in ours)


def test_a_credential_in_an_adapter_option_is_refused():
    with pytest.raises(ValidationError) as err:
        EmbedParams.model_validate(
            {
                "dataset": "voxceleb:/v",
                "encoder": "speech/ge2e",
                "options": {"heightceleb": f"http://u:{SECRET}@h/t.csv"},
            }
        )
    assert SECRET not in str(err.value) and "options.heightceleb" in str(err.value)
