"""Retrieval metrics for ``beir:`` datasets: rank the corpus for each query by cosine, score with trec_eval.

``rank`` is exact (a matrix product over unit vectors, top ``k`` per query); ``retrieval_metrics`` hands the run
and the qrels to ``ir_measures`` (trec_eval's own code through ``pytrec_eval``, as BEIR's ``EvaluateRetrieval``
does): ``nDCG@10``, ``R@10``, ``R@100`` and ``RR@10`` (MRR@10), averaged over the judged queries. A query's own id
never counts as a hit for itself (BEIR's ``ignore_identical_ids``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("nDCG@10", "R@10", "R@100", "RR@10")
# leaderboard columns and MLflow metric keys
NAMES = {"nDCG@10": "ndcg_at_10", "R@10": "recall_at_10", "R@100": "recall_at_100", "RR@10": "mrr_at_10"}


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rank(
    query_vectors: np.ndarray,
    query_ids: Sequence[str],
    doc_vectors: np.ndarray,
    doc_ids: Sequence[str],
    k: int = 100,
    chunk: int = 256,
) -> dict[str, dict[str, float]]:
    """{query id: {doc id: cosine}} of each query's ``k`` nearest documents."""
    docs = _unit(doc_vectors)
    k = min(k, len(doc_ids))
    run: dict[str, dict[str, float]] = {}
    for start in range(0, len(query_ids), chunk):
        scores = _unit(query_vectors[start : start + chunk]) @ docs.T
        top = (
            np.argpartition(-scores, k - 1, axis=1)[:, :k]
            if k < len(doc_ids)
            else np.tile(np.arange(len(doc_ids)), (len(scores), 1))
        )
        for row, qid in enumerate(query_ids[start : start + chunk]):
            run[str(qid)] = {str(doc_ids[j]): float(scores[row, j]) for j in top[row] if doc_ids[j] != qid}
    return run


def retrieval_metrics(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics: Sequence[str] = METRICS
) -> dict[str, float]:
    """Mean of each metric over the judged queries: ``ndcg_at_10``, ``recall_at_10``, ``recall_at_100``,
    ``mrr_at_10`` (names MLflow takes as metric keys)."""
    import ir_measures

    judged = {q: docs for q, docs in qrels.items() if q in run}
    if not judged:
        raise ValueError("no judged query was ranked: the qrels and the run share no query id")
    measures = [ir_measures.parse_measure(m) for m in metrics]
    found = ir_measures.calc_aggregate(measures, judged, {q: run[q] for q in judged})
    return {NAMES.get(str(m), str(m)): float(found[m]) for m in measures}
