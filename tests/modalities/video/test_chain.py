"""Real EfficientNet-Lite0 through the embed tasks on UCF101-layout clips: probe accuracy, failures, caching."""

import numpy as np

from embedforge.modalities.video import synth
from embedforge.modalities.video.decode import Video
from embedforge.modalities.video.encoders import mean_pool
from embedforge.registry.encoders import build_encoder
from embedforge.registry.heads import build_head
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features
from tests.modalities.video.conftest import LITE0

ENCODER = "video/efficientnet-lite0"


def _embed(root, db, work):
    plan = plan_embedding(dataset=f"ucf101:{root}", encoder=ENCODER, db_uri=db, work_dir=work, dataset_name="ucf",
                          encoder_options=LITE0, shard_size=64)  # fmt: skip
    results = [embed_shard(shard_path=p, encoder=ENCODER, db_uri=db, encoder_options=LITE0) for p in plan.shards]
    return plan, results


def test_lite0_linear_probe_failures_and_cache(ucf_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan, results = _embed(ucf_dir, db, work)
    assert plan.total == 31
    failures = [f for r in results for f in r.failures]
    assert [f["id"] for f in failures] == ["RollingBall/v_RollingBall_g11_c01.avi"]
    assert "truncated video" in failures[0]["error"], failures[0]
    assert sum(r.embedded for r in results) == 30

    feats = load_features(db_uri=db, encoder=ENCODER, dataset="ucf", options=LITE0)
    assert feats.X.shape == (30, 1280) and np.allclose(np.linalg.norm(feats.X, axis=1), 1, atol=1e-4)
    y, split = np.array([lab["label"] for lab in feats.labels]), np.array(feats.split)
    assert (split == "train").sum() == 18 and (split == "test").sum() == 12
    head = build_head("classify/logreg").fit(feats.X[split == "train"], y[split == "train"])
    accuracy = float(np.mean(head.predict(feats.X[split == "test"]) == y[split == "test"]))
    assert accuracy >= 0.9, accuracy

    again, rerun = _embed(ucf_dir, db, work)
    assert again.pending == 1 and sum(r.embedded for r in rerun) == 0  # only the failed clip is retried
    changed = ucf_dir / "UCF-101/SlidingBox/v_SlidingBox_g07_c01.avi"
    synth.write_video(changed, synth.action_frames("SlidingBox", np.random.default_rng(99), 16, 64))
    plan, results = _embed(ucf_dir, db, work)
    assert plan.pending == 2 and sum(r.embedded for r in results) == 1  # the changed clip, once
    assert len(load_features(db_uri=db, encoder=ENCODER, dataset="ucf", options=LITE0).ids) == 30


def test_frame_vectors_pool_to_the_clip_vector(ucf_dir):
    clips = [Video(str(ucf_dir / "UCF-101/RollingBall/v_RollingBall_g01_c01.avi"))]
    clips.append(Video(str(ucf_dir / "UCF-101/WavingStripes/v_WavingStripes_g05_c01.avi")))
    frames = build_encoder(ENCODER, pooling="frames", **LITE0)
    clip = build_encoder(ENCODER, prefetch=0, **LITE0)
    assert frames.identity()["dim"] == 4 * 1280 and frames.identity()["input"]["pooling"] == "frames"
    per_frame = frames.encode([frames.preprocess(v, f"c{i}") for i, v in enumerate(clips)])
    pooled = clip.encode([clip.preprocess(v, f"c{i}") for i, v in enumerate(clips)])
    np.testing.assert_allclose(mean_pool(per_frame.reshape(2, 4, 1280)), pooled, atol=1e-5)


def test_attention_pool_finds_the_informative_frame():
    rng = np.random.default_rng(0)
    n, k, d = 120, 6, 16
    X = rng.standard_normal((n, k, d)).astype(np.float32)
    y = rng.integers(0, 2, n)
    X[:, 2, 0] = np.where(y == 1, 3.0, -3.0)  # only frame 2 carries the class, and says which frame it is
    X[:, 2, 1] = 4.0
    X /= np.linalg.norm(X, axis=2, keepdims=True)
    head = build_head("video/attention-pool", frames=k).fit(X[:80].reshape(80, -1), y[:80])
    accuracy = np.mean(head.predict(X[80:].reshape(40, -1)) == y[80:].astype(str))
    assert accuracy >= 0.9, accuracy
    assert head.attention(X[80:].reshape(40, -1)).mean(axis=0).argmax() == 2
