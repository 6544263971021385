"""ucr:GunPoint through the embed stage's plain functions with MiniRocket, then a ridge head on the store."""

import numpy as np

import embedforge.modalities.timeseries  # noqa: F401  (registers encoders, datasets, heads)
from embedforge.registry.cache import cached_encoder
from embedforge.registry.datasets import open_dataset
from embedforge.registry.heads import build_head
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features


def test_gunpoint_minirocket_through_the_store(tmp_path):
    db, work, ref = str(tmp_path / "db"), str(tmp_path / "work"), "ucr:GunPoint"
    plan = plan_embedding(
        dataset=ref,
        encoder="timeseries/minirocket",
        db_uri=db,
        work_dir=work,
        weights=ref,
        shard_size=80,
        dataset_name="gunpoint",
    )
    assert plan.total == 200 and len(plan.shards) == 3
    results = [
        embed_shard(shard_path=p, encoder="timeseries/minirocket", db_uri=db, weights=ref, batch_size=32)
        for p in plan.shards
    ]
    assert sum(r.embedded + r.reused for r in results) == 200 and not any(r.failures for r in results)

    feats = load_features(db, "timeseries/minirocket", "gunpoint", weights=ref)
    enc = cached_encoder("timeseries/minirocket", ref, "cpu")
    assert feats.X.shape == (200, 9996)
    assert feats.identity["fingerprint"] == enc.fingerprint and feats.identity["weights"] == "fit:ucr:GunPoint#train"

    ds = open_dataset(ref)
    by_id = {it.id: it for it in ds.items()}
    direct = enc.encode([enc.preprocess(ds.load(by_id[i]), i) for i in feats.ids[:5]])
    np.testing.assert_allclose(feats.X[:5], direct, atol=1e-6)

    train, test = feats.of_split("train"), feats.of_split("test")
    head = build_head("classify/ridge").fit(train.X, train.label("label").astype(str))
    accuracy = float(np.mean(head.predict(test.X) == test.label("label").astype(str)))
    assert abs(accuracy - 0.992444) <= 0.03  # Dempster et al. 2021, as in test_minirocket.PUBLISHED

    again = plan_embedding(
        dataset=ref, encoder="timeseries/minirocket", db_uri=db, work_dir=work, weights=ref, dataset_name="gunpoint"
    )
    assert again.skipped == 200 and again.shards == []
