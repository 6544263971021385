"""Retrieval scores of a stored table: queries and corpus of one dataset (``beir:``), ranked and scored.

Reads vectors from the store only (as heads do): rows whose ``role`` label is ``query`` rank the ``corpus`` rows
by cosine; the dataset's judgements (``Dataset.qrels(split)``) score the run with trec_eval's measures
(``embedforge.modalities.text.retrieval``).
"""

from __future__ import annotations

from typing import Any

from embedforge.registry.datasets import open_dataset
from embedforge.tasks.features import load_features


def retrieval_scores(
    *,
    db_uri: str,
    encoder: str,
    dataset_ref: str,
    dataset_name: str | None = None,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    split: str = "test",
    k: int = 100,
) -> dict[str, Any]:
    """``{"ndcg@10", "recall@10", "recall@100", "mrr@10", "n_queries", "n_corpus"}`` of one split's queries."""
    from embedforge.modalities.text.retrieval import rank, retrieval_metrics

    ds = open_dataset(dataset_ref)
    if not hasattr(ds, "qrels"):
        raise ValueError(f"{dataset_ref}: not a retrieval dataset (no relevance judgements)")
    feats = load_features(db_uri, encoder, dataset_name, weights=weights, options=options)
    roles = feats.label("role")
    queries = feats.where((roles == "query") & [s == split for s in feats.split])
    corpus = feats.where(roles == "corpus")
    if not len(queries.ids) or not len(corpus.ids):
        raise ValueError(f"{encoder}: no stored {split} queries or corpus rows of {dataset_name or dataset_ref}")
    strip = lambda ids: [i.split("/", 1)[1] for i in ids]  # query/q1 -> q1, corpus/d1 -> d1
    run = rank(queries.X, strip(queries.ids), corpus.X, strip(corpus.ids), k=k)
    scores = retrieval_metrics(ds.qrels(split), run)
    return {**scores, "n_queries": len(queries.ids), "n_corpus": len(corpus.ids)}


def score_retrieval(
    *,
    db: str,
    encoder: str,
    weights: str | None,
    dataset_ref: str,
    dataset_name: str,
    options: dict[str, str] | None = None,
    split: str = "test",
) -> list[dict]:
    """One leaderboard row (task ``retrieval``, head ``retrieval/cosine``) for an (encoder, retrieval dataset).

    Ranking is exact and cheap, so the row is recomputed on every run rather than cached in MLflow; the
    leaderboard run records it with the other cells.
    """
    found = retrieval_scores(
        db_uri=db,
        encoder=encoder,
        dataset_ref=dataset_ref,
        dataset_name=dataset_name,
        weights=weights,
        options=options,
        split=split,
    )
    row: dict[str, Any] = {
        "encoder": encoder,
        "dataset": dataset_name,
        "augmentation": "none",
        "head": "retrieval/cosine",
        "task": "retrieval",
        "label": f"qrels/{split}",
        "n_train": found["n_corpus"],
        "n_test": found["n_queries"],
        "cached": False,
        "run_id": None,
        "transform": "none",
    }
    return [{**row, **{k: v for k, v in found.items() if not k.startswith("n_")}}]
