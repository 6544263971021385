"""Slide-level MIL on real EfficientNet-Lite0 tile features: the label is decided by a few tiles among many."""

import numpy as np

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
