"""The whole speech chain on synthetic VoxCeleb-layout voices, with the real GE2E encoder, Prefect and MLflow."""

import base64

import pandas as pd
import pytest

from embedforge.flows.embed import run_embed
from embedforge.flows.params import EmbedParams
from embedforge.modalities.speech.synth import make_timit_dataset, make_voxceleb_dataset
from embedforge.tasks.store import VectorStore
from embedforge.tasks.train import train_heightceleb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    root = tmp_path_factory.mktemp("vox")
    table = make_voxceleb_dataset(root, n_speakers=36, utts_per_speaker=3, seed=11, seconds=2.5)
    return root, table


def _embed(root, table, db):
    return run_embed(
        EmbedParams(
            dataset=f"voxceleb:{root}",
            encoder="speech/ge2e",
            db=db,
            dataset_name="vox",
            options={"heightceleb": str(table)},
            shard_size=40,
        )
    )


def test_chain_embeds_trains_registers_and_serves(prefect_harness, voices, tmp_path):
    import mlflow

    root, table = voices
    db = str(tmp_path / "db")
    first = _embed(root, table, db)
    assert (first["embedded"], first["failed"]) == (108, 0)

    timit = make_timit_dataset(tmp_path / "TIMIT", n_speakers=12, utts_per_speaker=2, seconds=2.5)
    run_embed(EmbedParams(dataset=f"timit:{timit}", encoder="speech/ge2e", db=db, dataset_name="timit"))

    result = train_heightceleb(
        db_uri=db,
        encoder="speech/ge2e",
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        artifact_root=str(tmp_path / "artifacts"),
        dataset="vox",
        timit_dataset="timit",
        registered_name="hc",
        alias="champion",
    )
    m = result["metrics"]
    assert m["test_mae"] < 0.8 * m["test_mae_mean"], m  # clearly better than predicting the training mean
    assert m["test_sex_accuracy"] >= 0.8, m
    assert m["timit_n"] == 4 and m["timit_sex_accuracy"] >= 0.75 and m["timit_mae"] < 10, m
    run = mlflow.get_run(result["run_id"])
    assert run.data.params["encoder"] == "speech/ge2e"
    assert run.info.run_name.startswith("pls · ") and run.data.tags["head"] == "heightceleb/pls"
    assert run.data.tags["encoder"] == "speech/ge2e" and run.data.tags["task"] == "regression"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["vox"]  # what it was trained on, in the list
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result["run_id"], "plots")}
    assert {"plots/height_parity.png", "plots/height_residuals.png"} <= artifacts

    head = mlflow.pyfunc.load_model("models:/hc-head@champion")
    vec = VectorStore(db).rows("speech__ge2e", "vox")["vector"].to_pylist()[:3]
    out = head.predict(pd.DataFrame({"vector": vec}))
    assert list(out.columns) == ["height_cm", "sex", "sex_prob"] and len(out) == 3
    assert out["height_cm"].between(120, 230).all()

    wav = next(root.rglob("*.wav"))
    audio_model = mlflow.pyfunc.load_model("models:/hc@champion")
    raw = audio_model.predict(pd.DataFrame({"audio": [base64.b64encode(wav.read_bytes()).decode()]}))
    assert raw["sex"].iloc[0] in ("m", "f")
    with pytest.raises(Exception, match=r"\(-1, 256\)"):  # the tensor signature's shape
        head.predict(pd.DataFrame({"vector": [[0.1, 0.2]]}))
    with pytest.raises(Exception, match=r"audio refused|neither base64"):
        audio_model.predict(pd.DataFrame({"audio": ["bm90IGF1ZGlv"]}))


def test_rerun_change_and_bad_files(prefect_harness, voices, tmp_path):
    import shutil

    src, table = voices
    root = tmp_path / "copy"
    shutil.copytree(src, root)
    db = str(tmp_path / "db")
    _embed(root, table, db)
    again = _embed(root, table, db)
    assert (again["embedded"], again["skipped"]) == (0, 108)

    wavs = sorted(root.rglob("*.wav"))
    changed = wavs[5]
    data = bytearray(changed.read_bytes())
    data[-2000:] = bytes(2000)  # new content, still a valid WAV
    changed.write_bytes(bytes(data))
    speaker = wavs[0].parent
    (speaker / "99998.wav").write_bytes(wavs[1].read_bytes()[:3000])  # truncated mid-data
    (speaker / "99999.wav").write_bytes(b"")  # empty
    third = _embed(root, table, db)
    assert (third["embedded"], third["failed"], third["skipped"]) == (1, 2, 107)
    errors = " | ".join(f["error"] for f in third["failures"])
    assert "99998.wav" in errors and "truncated" in errors and "99999.wav" in errors and "empty" in errors
    assert VectorStore(db).count("speech__ge2e") == 108
