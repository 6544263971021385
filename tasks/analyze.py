"""``embedforge analyze``: read a table's stored vectors, run the analyses asked for, store their columns beside it.

Only what changed is computed: each analysis is fingerprinted by the rows' content keys and its own parameters,
and a rerun with the same fingerprint reuses the stored columns (``tasks/analysis_table.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from embedforge.tasks import analyses
from embedforge.tasks import analysis_table as at
from embedforge.tasks.features import Features, load_features
from embedforge.tasks.neighbours import Graph, knn_graph, unit_rows
from embedforge.tasks.schema import row_key
from embedforge.tasks.store import VectorStore, table_name

WHAT = ("dups", "clusters", "outliers", "labels", "map", "quality")
# How rows are compared, part of every analysis's fingerprint: answers stored by an older method are recomputed.
METHOD = "v2: cosine of mean-centred vectors"
NEEDS_GRAPH = {"dups", "outliers", "quality"}


@dataclass(frozen=True)
class Knobs:
    """The analyses' parameters (validated upstream by ``AnalyzeParams``); each analysis is keyed by its own."""

    label: str = "label"
    threshold: float = 0.95
    k: int = 10
    clusters: str = "kmeans"
    n_clusters: int | None = None
    map: str = "umap"
    map_points: int = 20_000
    seed: int = 0

    def of(self, what: str) -> dict[str, Any]:
        names = {
            "dups": ("threshold", "k"),
            "clusters": ("clusters", "n_clusters", "seed"),
            "outliers": ("k",),
            "labels": ("label", "seed"),
            "map": ("map", "map_points", "seed"),
            "quality": ("k", "seed"),
        }[what]
        return {n: getattr(self, n) for n in names}


@dataclass
class Analysis:
    """One table's analysis: its rows, the columns (row-aligned), what each analysis reported, what was reused."""

    encoder: str
    table: str
    features: Features
    columns: dict[str, np.ndarray]
    info: dict[str, Any]
    computed: list[str]
    reused: list[str]
    knobs: Knobs
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def labels(self) -> list[str | None]:
        return _label_texts(self.features, self.knobs.label)


def _label_texts(feats: Features, name: str) -> list[str | None]:
    return [None if v is None else str(v) for v in feats.label(name).tolist()]


def analyze(
    db_uri: str,
    encoder: str,
    *,
    dataset: str | None = None,
    what: tuple[str, ...] | list[str] = WHAT,
    knobs: Knobs | None = None,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    table: str | None = None,
) -> Analysis:
    """Run the analyses ``what`` on the encoder's stored rows (one dataset, several ``a,b``, or all); ``table``
    names the table itself (every table of a store, whatever weights made it)."""
    unknown = sorted(set(what) - set(WHAT))
    if unknown:
        raise ValueError(f"unknown analysis {', '.join(unknown)}: choose from {', '.join(WHAT)}")
    knobs = knobs or Knobs()
    feats = load_features(db_uri, encoder, dataset, weights, options, table=table)
    if len(feats.ids) < 3:
        raise ValueError(f"analyze needs at least 3 stored rows; {encoder} holds {len(feats.ids)}")
    if "labels" in what and all(v is None for v in feats.label(knobs.label).tolist()):
        present = sorted({k for lab in feats.labels for k in lab})
        raise ValueError(f"no stored row has the label {knobs.label!r}; its labels: {', '.join(present) or 'none'}")
    store, table = VectorStore(db_uri), table or table_name(encoder, weights, options)
    keys = [row_key(d, i) for d, i in zip(feats.datasets, feats.ids, strict=True)]
    digest = at.content_digest(keys, feats.hashes)
    prints = {w: at.fingerprint(digest, w, knobs.of(w) | {"method": METHOD}) for w in WHAT}
    meta, stored = at.read(store, table) or ({}, {})
    done_before = meta.get("done", {})
    todo = [w for w in what if done_before.get(w) != prints[w]]  # same rows, content and parameters: reused
    reused = [w for w in what if w not in todo]
    columns = at.carried(stored, keys, feats.hashes)  # these rows' stored answers, of every analysis
    info = dict(meta.get("info", {}))
    version: int | None = meta.get("version")
    if todo:
        _compute(feats, todo, knobs, columns, info)
        done = {w: p for w, p in done_before.items() if w not in todo} | {w: prints[w] for w in todo}
        rows: dict[str, list[Any]] = {"dataset": feats.datasets, "id": feats.ids, "content_hash": feats.hashes}
        rows["split"] = feats.split
        rows["label"] = _label_texts(feats, knobs.label)
        new_meta = {"table": table, "content": digest, "done": done, "info": info, "knobs": asdict(knobs)}
        version = at.write(store, table, rows, columns, new_meta, kept=stored)
    return Analysis(encoder, table, feats, columns, info, todo, reused, knobs, version)


def _compute(feats: Features, todo: list[str], knobs: Knobs, columns: dict, info: dict) -> None:
    """Run each analysis in ``todo``, the neighbour graph built once for those that read it.

    Rows are compared by the cosine of their mean-centred vectors: many encoders' spaces are anisotropic (every
    MiniRocket pair of ItalyPowerDemand has cosine > 0.98, so at 0.95 every row "copies" another), and centring
    keeps copies at ~1 while spreading the rest (there: nearest neighbours 0.49-0.94). The quality numbers
    describe the space as stored (raw cosine).
    """
    Xn = unit_rows(feats.X - feats.X.mean(axis=0, dtype=np.float64).astype(np.float32))
    graph: Graph | None = knn_graph(Xn, knobs.k, seed=knobs.seed) if NEEDS_GRAPH & set(todo) else None
    labels = _label_texts(feats, knobs.label)
    for what in todo:
        if what == "quality":
            assert graph is not None
            sample = np.random.default_rng(knobs.seed).permutation(len(Xn))[: analyses.QUALITY_SAMPLE]
            info["quality"] = analyses.quality(unit_rows(feats.X[np.sort(sample)]), graph, knobs.seed)
            continue
        result = _one(what, feats, Xn, graph, labels, knobs)
        columns.update(result.columns)
        info[what] = {**result.summary, **({"exact_graph": graph.exact} if graph is not None else {})}


def _one(what: str, feats: Features, Xn: np.ndarray, graph: Graph | None, labels, knobs: Knobs) -> analyses.Result:
    if what == "dups":
        assert graph is not None
        return analyses.duplicates(graph, feats.hashes, feats.split, knobs.threshold)
    if what == "outliers":
        assert graph is not None
        return analyses.outliers(graph)
    if what == "clusters":
        return analyses.clusters(Xn, knobs.clusters, knobs.n_clusters, knobs.seed)
    if what == "labels":
        return analyses.label_issues(feats.X, labels, knobs.seed)
    from embedforge.tasks.analysis_map import layout

    rows, xy = layout(Xn, knobs.map, knobs.map_points, knobs.seed)
    mx, my = np.full(len(Xn), np.nan, np.float32), np.full(len(Xn), np.nan, np.float32)
    mx[rows], my[rows] = xy[:, 0], xy[:, 1]
    return analyses.Result({"map_x": mx, "map_y": my}, {"method": knobs.map, "points": len(rows)})
