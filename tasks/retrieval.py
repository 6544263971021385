"""Retrieval scores of a stored table: queries and corpus of one dataset (``beir:``), ranked and scored.

Reads vectors from the store only (as heads do): rows whose ``role`` label is ``query`` rank the ``corpus`` rows
by cosine; the dataset's judgements (``Dataset.qrels(split)``) score the run with trec_eval's measures
(``embedforge.modalities.text.retrieval``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedforge.registry.datasets import open_dataset
from embedforge.tasks.features import load_features

SEARCHES = ("exact", "ann")  # every retrieval cell is scored both ways: the ANN row shows what the index costs


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
    transform: str = "none",
    search: str = "exact",
) -> dict[str, Any]:
    """``{"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10", "n_queries", "n_corpus", "bytes_per_vector",
    "qrels_left_out"}`` of one
    split's queries, ranked exactly or through an ANN index, on the stored vectors or a compact ``transform`` of
    them (``int8``, ``binary``, ``pca:K``, ``truncate:K``, ``whiten:K``) fitted on the corpus rows."""
    return _scores(_retrieval_set(db_uri, encoder, dataset_ref, dataset_name, weights, options, split), transform,
                   search, k)  # fmt: skip


def _retrieval_set(db_uri, encoder, dataset_ref, dataset_name, weights, options, split) -> dict[str, Any]:
    """Queries of ``split`` and the corpus from the store, with the dataset's judgements."""
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
    qrels, left_out = ds.judgements(split) if hasattr(ds, "judgements") else (ds.qrels(split), [])
    key = [feats.identity, queries.ids, queries.hashes, corpus.ids, corpus.hashes, split, qrels]
    return {"Q": queries.X, "qids": strip(queries.ids), "C": corpus.X, "cids": strip(corpus.ids),
            "qrels": qrels, "left_out": left_out, "key": key}  # fmt: skip


def _scores(data: dict[str, Any], transform: str, search: str, k: int) -> dict[str, Any]:
    from embedforge.modalities.text.retrieval import rank, retrieval_metrics
    from embedforge.tasks.transforms import fitted_transform

    if search not in SEARCHES:
        raise ValueError(f"search={search!r}; expected one of {', '.join(SEARCHES)}")
    Q, C, size = data["Q"], data["C"], 4 * data["C"].shape[1]
    if transform not in ("", "none"):
        fitted = fitted_transform(transform, C)  # on the corpus: queries are what is being tested
        Q, C, size = fitted.apply(Q), fitted.apply(C), fitted.bytes_per_vector(C.shape[1])
    ranker = rank if search == "exact" else ann_rank
    docs = {document_of(c) for c in data["cids"]}
    per_doc = -(-len(data["cids"]) // max(1, len(docs)))  # windows per document, on average (1 without chunks)
    run = by_document(ranker(Q, data["qids"], C, data["cids"], k=k * per_doc), k)
    scores = retrieval_metrics(data["qrels"], run)
    return {**scores, "n_queries": len(data["qids"]), "n_corpus": len(docs), "bytes_per_vector": size,
            "qrels_left_out": len(data.get("left_out", []))}  # fmt: skip


def document_of(cid: str) -> str:
    """``d1#120-980`` (a window row of ``-o chunks=rows``) -> ``d1``; a whole document's id unchanged."""
    doc, sep, span = cid.rpartition("#")
    return doc if sep and span.replace("-", "").isdigit() and span.count("-") == 1 else cid


def by_document(run: dict[str, dict[str, float]], k: int) -> dict[str, dict[str, float]]:
    """Window hits folded into documents, each scored by its best window (MaxP), the k best documents kept."""
    out = {}
    for qid, hits in run.items():
        best: dict[str, float] = {}
        for cid, score in hits.items():
            doc = document_of(cid)
            best[doc] = max(score, best.get(doc, -np.inf))
        out[qid] = dict(sorted(best.items(), key=lambda kv: -kv[1])[:k])
    return out


def ann_rank(Q: np.ndarray, qids: list[str], C: np.ndarray, cids: list[str], k: int = 100) -> dict[str, dict]:
    """{query id: {doc id: cosine}} through the ANN index the store builds (``tasks/index.py``: its index type,
    partitions and tuned search), on a scratch LanceDB table of the corpus vectors."""
    import tempfile

    import pyarrow as pa

    from embedforge.tasks.index import build_vector_index, tuned_query
    from embedforge.tasks.lance_import import lancedb_module

    lancedb = lancedb_module()

    C = np.ascontiguousarray(C, dtype=np.float32)
    k = min(k, len(cids))
    with tempfile.TemporaryDirectory(prefix="embedforge-ann-") as tmp:
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(C.ravel()), C.shape[1])
        tbl: Any = lancedb.connect(tmp).create_table("corpus", pa.table({"key": cids, "vector": vectors}))
        build_vector_index(tbl)
        run: dict[str, dict[str, float]] = {}
        for qid, q in zip(qids, np.asarray(Q, dtype=np.float32), strict=True):
            query = tuned_query(tbl, tbl.search(q).distance_type("cosine"), k)
            hits = query.select(["key", "_distance"]).limit(k).to_list()
            run[str(qid)] = {h["key"]: 1.0 - float(h["_distance"]) for h in hits if h["key"] != qid}
    return run


def score_retrieval(
    *,
    db: str,
    encoder: str,
    weights: str | None,
    dataset_ref: str,
    dataset_name: str,
    tracking_uri: str | None = None,
    experiment: str = "leaderboard",
    options: dict[str, str] | None = None,
    split: str = "test",
    transforms: list[str] | None = None,
    progress: str | None = None,
) -> list[dict]:
    """Leaderboard rows (task ``retrieval``) for an (encoder, retrieval dataset): per transform, one row by exact
    search (head ``retrieval/cosine``) and one through the ANN index (``retrieval/ann``), with bytes per vector.

    Each row is a leaderboard cell like a head's: an MLflow run keyed by the stored vectors (identity and item
    content), the judgements, the search and the transform, so a rerun reads it back instead of ranking again.
    Judgements naming a document or query the folder lacks are left out of the scores and counted
    (``qrels_left_out``) and listed in the cell's run (``qrels_left_out.txt``).
    """
    from embedforge.tasks.leaderboard import cached_scores
    from embedforge.tasks.progress import append_event
    from embedforge.tasks.scoring import METRICS
    from embedforge.tasks.tracking import use_tracking

    if tracking_uri:
        use_tracking(tracking_uri, experiment)
    data = _retrieval_set(db, encoder, dataset_ref, dataset_name, weights, options, split)
    cells = [(transform or "none", search) for transform in transforms or ["none"] for search in SEARCHES]
    keys = {cell: _cell_key(data["key"], *cell) for cell in cells}
    hits = cached_scores(list(keys.values()), encoder, dataset_name) if tracking_uri else {}
    rows = []
    for transform, search in cells:
        head = "retrieval/cosine" if search == "exact" else "retrieval/ann"
        hit = hits.get(keys[transform, search]) or {}
        cached = set(METRICS["retrieval"]) <= set(hit)
        if cached:
            found, run_id = hit, hit["run_id"]
        else:
            found = _scores(data, transform, search, 100)
            run_id = _log_cell(found, encoder, dataset_name, head, transform, split, keys[transform, search],
                               data["left_out"]) if tracking_uri else None  # fmt: skip
        row: dict[str, Any] = {
            "encoder": encoder,
            "dataset": dataset_name,
            "augmentation": "none",
            "head": head,
            "task": "retrieval",
            "label": f"qrels/{split}",
            "n_train": int(found["n_corpus"]),
            "n_test": int(found["n_queries"]),
            "cached": cached,
            "run_id": run_id,
            "transform": transform,
            "bytes_per_vector": float(found["bytes_per_vector"]),
            "qrels_left_out": int(found.get("qrels_left_out", 0)),
        }
        rows.append({**row, **{m: float(found[m]) for m in METRICS["retrieval"]}})
    append_event(progress, event="pair", encoder=encoder, dataset=dataset_name)  # the CLI's bar counts pairs
    return rows


def _cell_key(material: list[Any], transform: str, search: str) -> str:
    import hashlib
    import json

    payload = json.dumps([material, transform, search, "k=100", "v1"], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _log_cell(found: dict[str, Any], encoder: str, dataset: str, head: str, transform: str, split: str, key: str,
              left_out: list[str]) -> str:  # fmt: skip
    """One MLflow run for one retrieval cell: tagged as a leaderboard cell, its scores as metrics."""
    import mlflow

    from embedforge.tasks.leaderboard import CACHE_TAG

    parts = [head, encoder.split("/", 1)[-1], dataset] + ([] if transform == "none" else [transform])
    with mlflow.start_run(run_name=" · ".join(parts)) as run:
        mlflow.set_tags({CACHE_TAG: key, "embedforge.kind": "leaderboard-cell", "encoder": encoder,
                         "dataset": dataset, "head": head, "task": "retrieval",
                         "modality": encoder.split("/", 1)[0]})  # fmt: skip
        mlflow.log_params({"encoder": encoder, "dataset": dataset, "head": head, "task": "retrieval",
                           "transform": transform, "label": f"qrels/{split}", "augmentation": "none"})  # fmt: skip
        mlflow.log_metrics({k: float(v) for k, v in found.items() if isinstance(v, (int, float))})
        if left_out:
            mlflow.log_text("\n".join(left_out), "qrels_left_out.txt")
    return str(run.info.run_id)
