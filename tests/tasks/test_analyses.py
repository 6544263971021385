"""The analyses on planted data: copies found without chaining, flips and outliers ranked first, leaks reported."""

import numpy as np

from embedforge.tasks import analyses
from embedforge.tasks.curate import k_center_greedy
from embedforge.tasks.neighbours import knn_graph, unit_rows


def planted(n=1500, d=48, classes=5, noise=0.5, seed=0):
    """Gaussian classes with 40 near-copies (tiny noise), 30 label flips and 15 far outliers planted."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, n)
    X = centres[y] + rng.normal(size=(n, d)) * noise
    src = rng.choice(n, 40, replace=False)
    copies = X[src] + rng.normal(size=(40, d)) * 0.01
    far = rng.normal(size=(15, d)) * 3.0
    X = np.vstack([X, copies, far]).astype(np.float32)
    labels = [str(v) for v in y] + [str(y[i]) for i in src] + [str(i % classes) for i in range(15)]
    flips = rng.choice(n, 30, replace=False)
    for i in flips:
        labels[i] = str((int(labels[i]) + 1) % classes)
    pairs = {frozenset((int(s), n + j)) for j, s in enumerate(src)}
    return X, labels, pairs, flips, np.arange(n + 40, n + 55)


def found_pairs(groups_col):
    by = {}
    for i, g in enumerate(groups_col.tolist()):
        if g >= 0:
            by.setdefault(g, []).append(i)
    return {frozenset((a, b)) for m in by.values() for a in m for b in m if a < b}


def test_planted_copies_found_with_precision_and_recall():
    X, _, pairs, _, _ = planted()
    hashes = [f"h{i}" for i in range(len(X))]
    result = analyses.duplicates(knn_graph(X, 10), hashes, [None] * len(X), threshold=0.97)
    found = found_pairs(result.columns["dup_group"])
    tp = len(found & pairs)
    assert tp / len(pairs) >= 0.95 and tp / max(len(found), 1) >= 0.95


def test_a_chain_of_close_rows_is_not_one_group():
    """Each row 0.98 from the next, the ends far apart: connected components would make one group of all 20."""
    angles = np.arange(20) * np.arccos(0.98)  # 4 radians in all: no wrap-around
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    r = analyses.duplicates(knn_graph(X, 4), [f"h{i}" for i in range(20)], [None] * 20, threshold=0.97)
    sizes = np.bincount(r.columns["dup_group"][r.columns["dup_group"] >= 0])
    assert sizes.max() <= 3 and sizes.sum() >= 14


def test_exact_copies_group_by_content_hash_and_a_train_test_group_is_a_leak():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 16)).astype(np.float32)
    X[7] = X[3]  # the same bytes stored twice (another dataset name): one group, whatever the vectors' rank
    hashes = [f"h{i}" for i in range(50)]
    hashes[7] = hashes[3]
    split = ["train"] * 40 + ["test"] * 10
    split[7] = "test"
    r = analyses.duplicates(knn_graph(X, 5), hashes, split, threshold=0.99)
    group = r.columns["dup_group"]
    assert group[3] == group[7] >= 0 and (group >= 0).sum() == 2
    assert r.columns["dup_representative"][3] and not r.columns["dup_representative"][7]  # the training copy kept
    from embedforge.tasks.analysis_report import TRAIN

    assert {split[3], split[7]} == {TRAIN, "test"}


def test_flipped_labels_rank_in_the_top_tenth():
    X, labels, _, flips, _ = planted()
    r = analyses.label_issues(X, labels)
    worst = set(np.argsort(r.columns["label_quality"])[: len(X) // 10].tolist())
    assert len(worst & set(flips.tolist())) / len(flips) >= 0.9
    assert r.columns["label_issue"][flips].mean() >= 0.8


def test_label_issues_skip_unlabelled_rows_and_singleton_classes():
    X, labels, _, _, _ = planted()
    labels = list(labels)
    labels[0], labels[1] = None, "only-one"
    r = analyses.label_issues(X, labels)
    assert np.isnan(r.columns["label_quality"][[0, 1]]).all() and r.summary["unscored"] == 2


def test_outliers_rank_in_the_top_twentieth():
    X, _, _, _, far = planted()
    r = analyses.outliers(knn_graph(X, 10))
    top = set(np.argsort(-r.columns["outlier"])[: len(X) // 20].tolist())
    assert set(far.tolist()) <= top and r.columns["outlier"].max() == 1.0


def test_clusters_recover_the_classes_and_k_is_chosen_by_silhouette():
    X, labels, _, _, _ = planted(noise=0.3)
    r = analyses.clusters(unit_rows(X[:1500]))
    assert r.summary["k"] == 5
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels[:1500], r.columns["cluster"]) > 0.8  # flips keep it under 1


def test_quality_numbers_tell_a_low_rank_space_from_an_isotropic_one():
    rng = np.random.default_rng(0)
    iso = unit_rows(rng.normal(size=(3000, 64)))
    low = unit_rows(rng.normal(size=(3000, 3)) @ rng.normal(size=(3, 64)) + 2.0)  # 3-D, off-centre
    q_iso, q_low = (analyses.quality(Z, knn_graph(Z, 10)) for Z in (iso, low))
    assert q_iso["effective_rank"] > 50 > 5 > q_low["effective_rank"]
    assert abs(q_iso["isotropy_mean_cosine"]) < 0.05 < q_low["isotropy_mean_cosine"]
    assert abs(q_low["isotropy_mean_cosine_whitened"]) < 0.05  # whitening removes the common direction
    assert 1.5 < q_low["intrinsic_dimension"] < 4.5 and q_iso["intrinsic_dimension"] > 15


def test_the_ivf_graph_finds_the_copies_the_exact_one_finds():
    X, _, pairs, _, _ = planted(n=6000, d=32)
    exact, approx = knn_graph(X, 10), knn_graph(X, 10, exact_below=1000)
    assert exact.exact and not approx.exact
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx.idx, exact.idx, strict=True)])
    assert recall > 0.8  # Gaussian classes of 32 dimensions: a hard case for any partitioned index
    hashes = [f"h{i}" for i in range(len(X))]
    found = found_pairs(analyses.duplicates(approx, hashes, [None] * len(X), 0.97).columns["dup_group"])
    assert len(found & pairs) / len(pairs) >= 0.95


def test_k_center_greedy_covers_every_class_before_repeating_one():
    X, labels, _, _, _ = planted(noise=0.2)
    picks = k_center_greedy(unit_rows(X[:1500]), 5)
    assert len({labels[i] for i in picks}) >= 4 and len(set(picks)) == 5
