"""open_clip through the real loader (tiny random weights in open_clip's format): zero-shot, text and file search."""

import base64

import numpy as np
import pytest
from typer.testing import CliRunner

from embedforge.flows.cli import build_app
from embedforge.modalities.base import ItemError
from embedforge.modalities.video import synth
from embedforge.modalities.video.heads import class_words
from embedforge.registry.encoders import build_encoder
from embedforge.registry.heads import build_head
from embedforge.registry.modalities import modality
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features

ENCODER = "video/clip-vit-b-32"


@pytest.fixture
def clip_table(tmp_path, tiny_clip):
    root = synth.ucf_layout(tmp_path / "ucf", per_class=4, test_groups=2, n=8, size=48)  # 6 test clips
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(dataset=f"ucf101:{root}", encoder=ENCODER, db_uri=db, work_dir=work, weights=str(tiny_clip),
                          dataset_name="ucf")  # fmt: skip
    results = [embed_shard(shard_path=p, encoder=ENCODER, db_uri=db, weights=str(tiny_clip)) for p in plan.shards]
    assert sum(r.embedded for r in results) == 12 and not any(r.failures for r in results)
    again = plan_embedding(dataset=f"ucf101:{root}", encoder=ENCODER, db_uri=db, work_dir=work, weights=str(tiny_clip),
                           dataset_name="ucf")  # fmt: skip
    assert (again.pending, again.skipped, again.shards) == (0, 12, [])  # a rerun embeds nothing
    return root, db


def test_tiny_checkpoint_loads_through_open_clip_with_both_towers(tiny_clip):
    enc = build_encoder(ENCODER, weights=str(tiny_clip))
    ident = enc.identity()
    assert ident["dim"] == 512 and ident["weights"] == str(tiny_clip) and len(ident["fingerprint"]) == 12
    text = enc.encode_text(["a video of a person rolling ball.", "someone playing violin"])
    assert text.shape == (2, 512) and np.allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    assert not np.allclose(text[0], text[1])
    other = build_encoder(ENCODER, weights=str(synth_tiny_other(tiny_clip)))
    assert other.fingerprint != enc.fingerprint  # other weights, other identity


def synth_tiny_other(tiny_clip):
    from tests.modalities.video.conftest import write_tiny_clip

    return write_tiny_clip(tiny_clip.parent / "other", seed=1)


def test_zero_shot_head_from_class_names(clip_table, tiny_clip):
    _, db = clip_table
    assert class_words("ApplyEyeMakeup") == "apply eye makeup" and class_words("brush_hair") == "brush hair"
    feats = load_features(db_uri=db, encoder=ENCODER, dataset="ucf", weights=str(tiny_clip))
    y = np.array([lab["label"] for lab in feats.labels])
    head = build_head("zero-shot", encoder=ENCODER, weights=str(tiny_clip)).fit(None, y)
    assert list(head.classes_) == sorted(synth.CLASSES)
    proba = head.predict_proba(feats.X)
    assert proba.shape == (12, 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(head.predict(feats.X)) <= set(synth.CLASSES)  # random weights: no accuracy claim
    asked = head.with_labels(["PlayingViolin", "RollingBall"])
    assert list(asked.classes_) == ["PlayingViolin", "RollingBall"] and asked.predict_proba(feats.X).shape == (12, 2)
    assert np.allclose(asked.class_vectors_[1], head.class_vectors_[list(head.classes_).index("RollingBall")])
    with pytest.raises(ValueError, match="no text tower"):
        build_head("zero-shot", encoder="video/efficientnet-lite0").fit(None, y)


def test_search_text_and_query_file_with_contact_sheet(clip_table, tiny_clip, tmp_path):
    root, db = clip_table
    app, runner = build_app(), CliRunner()
    sheet = tmp_path / "sheet.png"
    args = ["search", "--encoder", ENCODER, "--weights", str(tiny_clip), "--db", db, "-k", "4"]
    out = runner.invoke(app, [*args, "--text", "someone rolling a ball", "--sheet", str(sheet)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert out.output.count("label=") == 4 and "contact sheet written" in out.output
    from PIL import Image

    assert Image.open(sheet).size[0] > 160
    query = root / "UCF-101/SlidingBox/v_SlidingBox_g02_c01.avi"
    out = runner.invoke(app, [*args, "--query", str(query)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    first = next(line for line in out.output.splitlines() if line.strip().startswith("│ 1 "))
    assert "v_SlidingBox_g02_c01.avi" in first and "0.0000" in first, out.output
    out = runner.invoke(app, args)
    assert out.exit_code != 0 and "exactly one of --query" in out.output


def test_served_input_decodes_base64_with_limits(tmp_path, monkeypatch):
    raw = modality("video").raw_input
    assert raw is not None and raw.column == "video"
    data = synth.write_video(tmp_path / "c.mp4", synth.index_frames(10), codec="libx264").read_bytes()
    video = raw.decode(base64.b64encode(data), "req")
    enc = build_encoder("video/efficientnet-lite0", frames=2, size=64)
    assert enc.encode([enc.preprocess(video, "req")]).shape == (1, 1280)
    with pytest.raises(ItemError, match="req: cannot open video"):
        raw.decode(base64.b64encode(b"not a video at all"), "req")
    import embedforge.modalities.video.raw as rawmod

    monkeypatch.setattr(rawmod, "MAX_SECONDS", 0.1)
    with pytest.raises(ItemError, match="over the 0-second limit"):
        raw.decode(data, "req")
    monkeypatch.setattr(rawmod, "MAX_BYTES", 100)
    with pytest.raises(ItemError, match="over the 100-byte"):
        raw.decode(data, "req")


def test_served_zero_shot_model_takes_candidate_labels(clip_table, tiny_clip, tmp_path):
    import mlflow
    import pandas as pd

    from embedforge.tasks.train_head import train_head

    root, db = clip_table
    out = train_head(
        db_uri=db, encoder=ENCODER, head="zero-shot", label="label", dataset="ucf", weights=str(tiny_clip),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", registered_name="zs",
    )  # fmt: skip
    assert set(out["models"]) == {"video", "vector"}
    clip = next(root.rglob("*.avi"))
    request = pd.DataFrame({"video": [base64.b64encode(clip.read_bytes()).decode()]})
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model("models:/zs@champion")
        trained = model.predict(request)
        asked = model.predict(request, params={"labels": ["PlayingViolin", "juggling balls"]})
        vector_model = mlflow.pyfunc.load_model("models:/zs-head@champion")
    finally:
        mlflow.set_tracking_uri(None)
    assert trained["label"][0] in synth.CLASSES  # random weights: which class is not asserted
    assert asked["label"][0] in {"PlayingViolin", "juggling balls"}
    assert {"prob_PlayingViolin", "prob_juggling balls"} <= set(asked.columns)
    assert np.isclose(asked["prob_PlayingViolin"][0] + asked["prob_juggling balls"][0], 1.0)
    assert "labels" in [p.name for p in vector_model.metadata.signature.params]
