"""What a table's vectors say about its data: near-duplicates, clusters, outliers, label issues, the space's quality.

Plain functions over unit vectors and the shared neighbour graph (``tasks/neighbours.py``); each returns per-row
columns (written back beside the table) and a summary (printed, logged, written as CSV/JSON).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedforge.tasks.neighbours import Graph

TRAIN = "train"


@dataclass
class Result:
    """Per-row columns (row-aligned with the table's rows) and a summary for people and scripts."""

    columns: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


# -- duplicates ---------------------------------------------------------------------------------
def _edges(graph: Graph, hashes: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs at cosine >= threshold from the graph, plus every pair of rows with the same content hash (sim 1)."""
    rows, cols = np.nonzero((graph.sim >= threshold) & (graph.idx >= 0))
    src, dst, sim = rows, graph.idx[rows, cols], graph.sim[rows, cols]
    first: dict[str, int] = {}
    same = [(first.setdefault(h, i), i) for i, h in enumerate(hashes) if first.setdefault(h, i) != i]
    if same:
        a, b = np.array(same).T
        src, dst, sim = np.r_[src, a], np.r_[dst, b], np.r_[sim, np.ones(len(a), np.float32)]
    return src, dst, sim


def _leaks(splits: set[str | None]) -> bool:
    """A group straddles training and held-out data (train with test, val or dev)."""
    return TRAIN in splits and bool(splits - {TRAIN, None})


def duplicates(graph: Graph, hashes: list[str], split: list[str | None], threshold: float = 0.95) -> Result:
    """Groups of exact (same content hash) and near (cosine >= threshold) copies, without chaining.

    Leader grouping over the graph's edges: rows are visited most-duplicated first, and an unassigned row takes
    its unassigned neighbours at the threshold into its group, so every member is within the threshold of one
    member (connected components would chain a dense cluster into one group). The representative kept is a
    training member where there is one (its copies elsewhere are the leak); ``dup_score`` is a row's best
    similarity to another row (its nearest neighbour's, or an exact copy's 1), whether or not it is a copy.
    """
    n = len(hashes)
    src, dst, sim = _edges(graph, hashes, threshold)
    best = np.where(graph.idx[:, 0] >= 0, graph.sim[:, 0], 0.0).astype(np.float32)  # the nearest other row
    np.maximum.at(best, src, sim)
    np.maximum.at(best, dst, sim)
    group, representative = np.full(n, -1, np.int64), np.zeros(n, bool)
    for g, members in enumerate(sorted(_leader_groups(n, src, dst, best, hashes), key=lambda m: (-len(m), m[0]))):
        group[members] = g
        representative[next((i for i in members if split[i] == TRAIN), members[0])] = True
    return Result(
        {"dup_group": group, "dup_representative": representative, "dup_score": best}, {"threshold": threshold}
    )


def _leader_groups(n: int, src: np.ndarray, dst: np.ndarray, best: np.ndarray, hashes: list[str]) -> list[list[int]]:
    """Groups of at least two rows; rows with an exact copy lead first, then by their best similarity."""
    from scipy.sparse import coo_matrix

    adj = coo_matrix((np.ones(len(src), bool), (src, dst)), shape=(n, n)).tocsr()
    adj = (adj + adj.T).tocsr()
    copies = Counter(hashes)
    order = sorted(np.flatnonzero(best > 0).tolist(), key=lambda i: (copies[hashes[i]] < 2, -best[i], i))
    assigned = np.zeros(n, bool)
    out = []
    for i in order:
        if assigned[i]:
            continue
        nbrs = [j for j in adj.indices[adj.indptr[i] : adj.indptr[i + 1]].tolist() if not assigned[j] and j != i]
        if nbrs:
            members = sorted([i, *nbrs])
            assigned[members] = True
            out.append(members)
    return out


# -- clusters -----------------------------------------------------------------------------------
def _choose_k(Xn: np.ndarray, seed: int, sample: int = 4000) -> tuple[int, dict[int, float]]:
    """k-means' k by the silhouette on a sample (cosine), over a ladder of candidates up to sqrt(n)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    S = Xn[rng.choice(len(Xn), size=min(sample, len(Xn)), replace=False)]
    ladder = [2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64]
    scores = {}
    for k in (k for k in ladder if k <= max(2, int(np.sqrt(len(Xn)))) and k < len(S)):
        labels = KMeans(k, n_init=2, random_state=seed).fit_predict(S)
        scores[k] = float(silhouette_score(S, labels, metric="cosine"))
    return max(scores, key=lambda k: scores[k]), scores


def _fit_labels(Xn: np.ndarray, method: str, k: int | None, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.cluster import HDBSCAN, KMeans, MiniBatchKMeans

    if method == "hdbscan":
        model = HDBSCAN(min_cluster_size=max(5, len(Xn) // 200), copy=True).fit(Xn)
        return model.labels_.astype(np.int64), {"method": "hdbscan"}
    scores: dict[int, float] = {}
    if k is None:
        k, scores = _choose_k(Xn, seed)
    cls = MiniBatchKMeans if len(Xn) > 20_000 else KMeans  # full k-means passes dominate beyond that
    kwargs = {"batch_size": 4096} if cls is MiniBatchKMeans else {}
    labels = cls(k, n_init=3, random_state=seed, **kwargs).fit_predict(Xn)
    return labels.astype(np.int64), {"method": "kmeans", "k": k, "silhouette": scores}


def clusters(Xn: np.ndarray, method: str = "kmeans", k: int | None = None, seed: int = 0) -> Result:
    """Cluster ids (-1: HDBSCAN's noise) and each row's cosine distance to its cluster's centre."""
    assign, info = _fit_labels(Xn, method, k, seed)
    dist = np.full(len(Xn), np.nan, np.float32)
    for c in sorted(set(assign.tolist()) - {-1}):
        rows = np.flatnonzero(assign == c)
        centre = Xn[rows].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        dist[rows] = 1.0 - Xn[rows] @ centre
    return Result({"cluster": assign, "cluster_distance": dist}, info)


# -- outliers -----------------------------------------------------------------------------------
def outliers(graph: Graph, k: int = 5) -> Result:
    """Mean cosine distance to the k nearest rows (FiftyOne's uniqueness idea) and its percentile (1 = most alone)."""
    from scipy.stats import rankdata

    k = min(k, graph.k)
    dist = np.nanmean(1.0 - graph.sim[:, :k], axis=1).astype(np.float32)
    score = ((rankdata(dist, method="max") - 1) / max(len(dist) - 1, 1)).astype(np.float32)
    return Result({"knn_distance": dist, "outlier": score}, {"k": k})


# -- label issues -------------------------------------------------------------------------------
def label_issues(X: np.ndarray, labels: list[str | None], seed: int = 0, folds: int = 5) -> Result:
    """cleanlab on out-of-fold probabilities of a logistic-regression head: which labels disagree with the data.

    Rows without a label, and classes with fewer than two rows, get no score (NaN) and are counted in the summary.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    counts = Counter(v for v in labels if v is not None)
    rows = np.array([i for i, v in enumerate(labels) if v is not None and counts[v] >= 2], dtype=np.int64)
    n = len(labels)
    quality, issue, suggested = np.full(n, np.nan, np.float32), np.zeros(n, bool), np.array([None] * n, dtype=object)
    classes = sorted({labels[i] for i in rows})
    if len(classes) < 2:
        empty = {"label_quality": quality, "label_issue": issue, "suggested_label": suggested}
        return Result(empty, {"skipped": "fewer than two labelled classes"})
    y = np.array([classes.index(labels[i]) for i in rows])
    cv = StratifiedKFold(min(folds, min(counts[c] for c in classes)), shuffle=True, random_state=seed)
    probs = cross_val_predict(LogisticRegression(max_iter=2000), X[rows], y, cv=cv, method="predict_proba")
    quality[rows] = get_label_quality_scores(y, probs)
    issue[rows] = find_label_issues(y, probs, n_jobs=1)  # no forked pool: a fork beside torch and Prefect threads hangs
    suggested[rows] = [classes[j] for j in probs.argmax(axis=1)]
    summary = {"scored": len(rows), "unscored": n - len(rows), "folds": cv.n_splits}
    return Result({"label_quality": quality, "label_issue": issue, "suggested_label": suggested}, summary)


# -- quality of the space -----------------------------------------------------------------------
def _mean_pair_cosine(Xn: np.ndarray, rng: np.random.Generator, pairs: int = 10_000) -> float:
    a, b = rng.integers(0, len(Xn), pairs), rng.integers(0, len(Xn), pairs)
    keep = a != b
    return float(np.mean(np.sum(Xn[a[keep]] * Xn[b[keep]], axis=1)))


QUALITY_SAMPLE = 20_000  # rows the space's numbers are measured on


def quality(Xn: np.ndarray, graph: Graph, seed: int = 0, sample: int = QUALITY_SAMPLE) -> dict[str, float]:
    """Effective rank, isotropy (mean cosine of random pairs, before and after whitening), hubness (skew of the
    k-occurrence) and the TwoNN intrinsic dimension: numbers to set beside accuracy per encoder."""
    from scipy.stats import skew

    from embedforge.tasks.neighbours import unit_rows

    rng = np.random.default_rng(seed)
    S = Xn[rng.choice(len(Xn), size=min(sample, len(Xn)), replace=False)].astype(np.float64)
    centred = S - S.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    p = s / max(s.sum(), 1e-12)
    keep = s > s[0] * 1e-6
    whitened = unit_rows((Xn[: min(len(Xn), sample)] - S.mean(axis=0)) @ vt[keep].T / s[keep])
    occurrence = np.bincount(graph.idx[graph.idx >= 0], minlength=len(graph.idx))
    r = np.sqrt(np.clip(2.0 - 2.0 * graph.sim[:, :2].astype(np.float64), 0.0, None)) if graph.k >= 2 else None
    return {
        "effective_rank": float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0])))),
        "isotropy_mean_cosine": _mean_pair_cosine(Xn, rng),
        "isotropy_mean_cosine_whitened": _mean_pair_cosine(whitened, rng),
        "hubness_skew": float(skew(occurrence)) if occurrence.std() > 0 else 0.0,
        "intrinsic_dimension": _two_nn(r) if r is not None else float("nan"),
    }


def _two_nn(r: np.ndarray) -> float:
    """TwoNN (Facco et al. 2017): the maximum-likelihood dimension from the ratio of second to first neighbour
    distance; rows whose first neighbour is an exact copy carry no information and are left out."""
    ok = (r[:, 0] > 1e-6) & np.isfinite(r).all(axis=1)
    mu = r[ok, 1] / r[ok, 0]
    mu = mu[mu > 1.0]
    return float(len(mu) / np.sum(np.log(mu))) if len(mu) else float("nan")
