"""A vitals task with ground truth: heart rate from simulated ECG+PPG, via stored embeddings and a ridge head."""

import numpy as np

from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features

ENCODER = "cardiac/spectrum"


def test_ridge_on_stored_embeddings_predicts_held_out_heart_rate(tmp_path):
    from sklearn.linear_model import RidgeCV

    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    options = {"sample_rate": "200", "seed": "7", "test_fraction": "0.3"}  # 200 Hz: preprocessing resamples
    plan = plan_embedding(
        dataset="ecgsim:30",
        encoder=ENCODER,
        db_uri=db,
        work_dir=work,
        dataset_name="sim",
        shard_size=10,
        options=options,
    )
    results = [embed_shard(shard_path=p, encoder=ENCODER, db_uri=db, batch_size=8) for p in plan.shards]
    assert sum(r.embedded for r in results) == 30 and not any(r.failures for r in results)

    feats = load_features(db, ENCODER, "sim")
    train, test = feats.of_split("train"), feats.of_split("test")
    assert (len(train.ids), len(test.ids)) == (21, 9) and not set(train.group) & set(test.group)
    y_train, y_test = train.label("heart_rate").astype(float), test.label("heart_rate").astype(float)
    head = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(train.X, y_train)
    mae = np.abs(head.predict(test.X) - y_test).mean()
    baseline = np.abs(y_train.mean() - y_test).mean()
    print(f"heart-rate MAE on {len(y_test)} held-out records: ridge {mae:.2f} bpm, mean predictor {baseline:.2f} bpm")
    assert baseline > 5 and mae < 0.4 * baseline
