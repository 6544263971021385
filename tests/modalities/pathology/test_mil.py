"""Slide-level MIL on real EfficientNet-Lite0 tile features: the label is decided by a few tiles among many."""

import numpy as np
import pytest

from embedforge.modalities.pathology.bags import bags_from_features, fit_bags
from embedforge.modalities.pathology.mil import bag_metrics
from embedforge.registry.heads import build_head
from embedforge.tasks.features import load_features
from embedforge.tasks.leaderboard import score_head
from tests.modalities.pathology.conftest import ENCODER, cohort_name


def test_abmil_finds_the_few_tumour_tiles(cohort, cohort_db):
    _, truth, tumours = cohort
    feats = load_features(cohort_db, ENCODER, cohort_name(cohort))
    bags = bags_from_features(feats)
    assert sorted(bags.slides) == sorted(truth) and feats.X.shape[1] == 1280
    assert all(bags.y[k] == truth[s] for k, s in enumerate(bags.slides))
    assert all(len(r) == 16 for r in bags.rows)  # 2 of them tumour in a positive slide

    head, bags, train, test = fit_bags(build_head("mil/abmil"), feats, feats.X, "label")
    assert not set(train) & set(test) and len(test) >= 6
    y = np.array([bags.y[k] for k in test])
    abmil = bag_metrics(y, head.predict_proba([bags.bag(feats.X, k) for k in test]), head.classes_)
    mean, n_train, n_test, _ = score_head(feats=feats, X=feats.X, head="mil/mean", label="label")  # the bag hook
    assert (n_train, n_test) == (len(train), len(test))
    assert abmil["accuracy"] > mean["accuracy"] or abmil["accuracy"] >= 0.9, (abmil, mean)
    assert set(mean) >= {"accuracy", "balanced_accuracy", "auc", "macro_f1"}

    for k in [k for k in test if bags.y[k] == "tumor"]:  # the most attended tile is a tumour tile
        attn = head.attention(bags.bag(feats.X, k))
        assert attn.shape == (16,) and np.isclose(attn.sum(), 1, atol=1e-5)
        top = feats.labels[bags.rows[k][int(np.argmax(attn))]]
        assert (top["x"], top["y"]) in tumours[bags.slides[k]], (bags.slides[k], top)


def test_search_by_tile_image_finds_the_tile_and_its_slide(cohort, cohort_db, tmp_path):
    from PIL import Image

    from embedforge.registry.datasets import open_dataset
    from embedforge.tasks.search import search_file

    root, _, tumours = cohort
    ds = open_dataset(f"slides:{root}")
    x, y = tumours["slide003"][0]
    item = next(it for it in ds.items() if it.id == f"slide003/{x}_{y}")
    Image.fromarray(ds.load(item).image).save(tmp_path / "tile.png")
    hits = search_file(db_uri=cohort_db, encoder=ENCODER, path=str(tmp_path / "tile.png"), k=4)
    assert hits[0]["id"] == item.id
    tumour_ids = {f"{s}/{tx}_{ty}" for s, xy in tumours.items() for tx, ty in xy}
    assert all(h["id"] in tumour_ids for h in hits)  # its nearest neighbours are tumour tiles of other slides


def test_cross_validation_by_patient(cohort, cohort_db):
    from embedforge.modalities.pathology.bags import cross_validate

    feats = load_features(cohort_db, ENCODER, cohort_name(cohort))
    cv = cross_validate("mil/mean", feats=feats, X=feats.X, folds=4)
    tested = [s for fold in cv["tested"] for s in fold]
    assert len(cv["folds"]) == 4 and sorted(tested) == sorted(cohort[1])  # every slide tested exactly once
    assert cv["mean"]["accuracy"] >= 0.8 and set(cv["std"]) == set(cv["mean"])


# --- training presets: the references' schedules by name, logged as the head's params -------------------------


def tiny_bags(n: int = 12, tiles: int = 6, dim: int = 8, seed: int = 0):
    """Bags whose label is one tile shifted along the first axis."""
    rng = np.random.default_rng(seed)
    y = np.array(["neg", "pos"] * (n // 2))
    bags = [rng.normal(size=(tiles, dim)).astype(np.float32) for _ in y]
    for b, label in zip(bags, y):
        if label == "pos":
            b[0, 0] += 4.0
    return bags, y


def test_presets_name_the_references_schedules():
    from embedforge.modalities.pathology.mil import ABMIL, R2TMIL

    r2t = R2TMIL(preset="reference").get_params()
    assert r2t["preset"] == "reference" and r2t["seed"] == 2021
    assert (r2t["max_epochs"], r2t["lr"], r2t["weight_decay"], r2t["optimizer"], r2t["scheduler"]) == (
        200, 2e-4, 1e-5, "adam", "cosine")  # fmt: skip
    assert (r2t["monitor"], r2t["patience"], r2t["min_epoch"], r2t["checkpoint"]) == ("val_auc", 30, 130, "first-best")
    tcga = R2TMIL(preset="reference-tcga").get_params()
    assert (tcga["patience"], tcga["min_epoch"]) == (20, 70)
    clam = ABMIL(preset="reference").get_params()
    assert (clam["max_epochs"], clam["lr"], clam["weight_decay"], clam["scheduler"], clam["seed"]) == (
        200, 1e-4, 1e-5, "none", 1)  # fmt: skip
    assert (clam["monitor"], clam["patience"], clam["min_epoch"]) == ("val_loss", 20, 50)
    assert clam["checkpoint"] == "last-best"
    assert clam["dropout"] == 0.25 and clam["size"] == "small"
    small = R2TMIL().get_params()
    assert small["preset"] == "small" and small["max_epochs"] < 200 and small["monitor"] == "val_auc,val_loss"
    assert small["da_act"] == "tanh" and small["region_num"] == 8 and small["all_shortcut"] is False
    # an override changes one value and keeps the preset's name; the params rebuild the same head
    short = R2TMIL(preset="reference", max_epochs=3)
    assert short.get_params() == {**r2t, "max_epochs": 3}
    assert R2TMIL(**short.get_params()).get_params() == short.get_params()


def test_command_line_options_reach_the_head():
    from embedforge.flows.cli.core import key_values
    from embedforge.registry.encoders import coerce_options
    from embedforge.registry.heads import build_head

    pairs = ["preset=reference-tcga", "all_shortcut=true", "crmsa_mlp=0", "da_act=relu", "region_num=12",
             "crmsa_heads=1", "lr=1e-4", "max_epochs=5"]  # fmt: skip
    p = build_head("mil/r2t", **coerce_options(key_values(pairs))).get_params()
    assert p["preset"] == "reference-tcga" and p["all_shortcut"] is True and p["crmsa_mlp"] is False
    assert (p["da_act"], p["region_num"], p["crmsa_heads"], p["lr"], p["max_epochs"]) == ("relu", 12, 1, 1e-4, 5)
    assert build_head("mil/abmil", **coerce_options({"preset": "reference"})).get_params()["monitor"] == "val_loss"
    for bad, error in [({"preset": "fast"}, ValueError), ({"da_act": "sigmoid"}, ValueError),
                       ({"all_shortcut": "maybe"}, ValueError), ({"patience": "0"}, ValueError),
                       ({"epochs": "3"}, TypeError)]:  # fmt: skip
        with pytest.raises(error):
            build_head("mil/r2t", **coerce_options(bad))
    with pytest.raises(TypeError):
        build_head("mil/abmil", region_num=4)  # an R²T option is not an AB-MIL one


def test_early_stopping_is_the_references():
    from embedforge.modalities.pathology.mil import EarlyStopping

    def stopped_at(scores, patience, min_epoch):
        stop = EarlyStopping(patience, min_epoch)
        return next((epoch for epoch, s in enumerate(scores) if stop(epoch, s)), None)

    worse = [1.0] + [0.5] * 20
    assert stopped_at(worse, patience=3, min_epoch=0) == 3  # three worse epochs in a row
    assert stopped_at(worse, patience=3, min_epoch=10) == 11  # patience long spent, but not before epoch > 10
    assert stopped_at([1.0] * 30, patience=3, min_epoch=0) is None  # an equal score resets the count
    assert stopped_at([1.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5], patience=3, min_epoch=0) == 6


def _scripted(monkeypatch, head, scores):
    """The head's validation answers ``scores`` (auc, loss) epoch by epoch; the weights seen are recorded."""
    import copy

    seen = []

    def validate(self, bags, target):
        seen.append(copy.deepcopy(self.model_.state_dict()))
        return scores[len(seen) - 1]

    monkeypatch.setattr(type(head), "_validate", validate)
    return seen


def test_abmil_reference_preset_stops_on_validation_loss(monkeypatch):
    import torch

    from embedforge.modalities.pathology.mil import ABMIL

    bags, y = tiny_bags()
    # the loss falls to 0.4 at epoch 3 (1-based), equals it at epoch 5, then worsens; the AUC plays no part
    losses = [0.9, 0.6, 0.4, 0.5, 0.4] + [0.8] * 95
    head = ABMIL(preset="reference", max_epochs=100, patience=4, min_epoch=10)
    seen = _scripted(monkeypatch, head, [(1.0 - i / 100, loss) for i, loss in enumerate(losses)])
    head.fit(bags, y)
    assert head.n_epochs_ == 12  # worse from epoch 6: patience reached at epoch 9, stopping allowed once epoch > 10
    assert head.best_epoch_ == 5 and head.val_loss_ == 0.4  # CLAM keeps the latest of equally good epochs
    final = head.model_.state_dict()
    assert all(torch.equal(final[k], seen[4][k]) for k in final)  # the weights of that epoch


def test_r2t_reference_preset_stops_on_validation_auc(monkeypatch):
    from embedforge.modalities.pathology.mil import R2TMIL

    bags, y = tiny_bags(tiles=5)
    aucs = [0.5, 0.75, 0.75, 0.7] + [0.6] * 20
    head = R2TMIL(preset="reference", max_epochs=24, patience=3, min_epoch=2)
    _scripted(monkeypatch, head, [(a, 0.1 * i) for i, a in enumerate(aucs)])  # the loss rises: it plays no part
    head.fit(bags, y)
    assert head.best_epoch_ == 2 and head.val_auc_ == 0.75  # the first epoch of the best AUC
    assert head.n_epochs_ == 6  # the tie at epoch 3 resets the count; 4, 5, 6 are worse


def test_presets_train_and_seed_reproducibly():
    from embedforge.modalities.pathology.mil import ABMIL, R2TMIL

    bags, y = tiny_bags()
    for make in (lambda: ABMIL(preset="reference", max_epochs=3), lambda: R2TMIL(preset="reference", max_epochs=2)):
        a, b = make().fit(bags, y), make().fit(bags, y)
        np.testing.assert_array_equal(a.predict_proba(bags), b.predict_proba(bags))
        assert a.n_epochs_ == a.params["max_epochs"] and 1 <= a.best_epoch_ <= a.n_epochs_
        assert a.predict_proba(bags).shape == (len(bags), 2) and np.isfinite(a.val_auc_)
    import torch

    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_the_preset_is_logged_with_the_run(cohort, cohort_db, tmp_path):
    import mlflow

    from embedforge.tasks.train_slides import train_slide_head

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = train_slide_head(db_uri=cohort_db, encoder=ENCODER, dataset=cohort_name(cohort), head="mil/abmil",
                           tracking_uri=tracking, params={"preset": "reference", "max_epochs": 2})  # fmt: skip
    run = mlflow.MlflowClient(tracking).get_run(out["run_id"]).data
    assert run.params["head_preset"] == "reference" and run.params["head_max_epochs"] == "2"
    assert (run.params["head_lr"], run.params["head_monitor"]) == ("0.0001", "val_loss")
    assert run.params["head_patience"] == "20"
    assert run.params["head_min_epoch"] == "50" and run.params["head_scheduler"] == "none"
    assert run.metrics["epochs_run"] == 2 and run.metrics["best_epoch"] in (1, 2)
