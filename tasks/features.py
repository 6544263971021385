"""Read stored vectors back as a feature matrix: heads train on the store, never on live models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedforge.tasks.store import VectorStore, table_name


@dataclass
class Features:
    """Vectors with their item ids, labels, splits and groups, row-aligned."""

    ids: list[str]
    X: np.ndarray
    labels: list[dict[str, Any]]
    split: list[str | None]
    group: list[str | None]
    identity: dict[str, Any]
    datasets: list[str]
    hashes: list[str]
    uris: list[str | None] = field(default_factory=list)  # where each item was read from (thumbnails, sheets)

    def label(self, name: str) -> np.ndarray:
        """One label column as an object array (None where absent)."""
        return np.array([lab.get(name) for lab in self.labels], dtype=object)

    def where(self, mask: np.ndarray) -> Features:
        idx = np.flatnonzero(mask)
        pick = lambda seq: [seq[i] for i in idx]
        return Features(
            pick(self.ids),
            self.X[idx],
            pick(self.labels),
            pick(self.split),
            pick(self.group),
            self.identity,
            pick(self.datasets),
            pick(self.hashes),
            pick(self.uris) if self.uris else [],
        )

    def of_split(self, split: str) -> Features:
        return self.where(np.array([s == split for s in self.split], dtype=bool))


def load_features(
    db_uri: str,
    encoder: str,
    dataset: str | None = None,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    table: str | None = None,
) -> Features:
    """All stored rows of one encoder's table (optionally one dataset), sorted by dataset and id; ``table`` names
    the table itself where its weights and options are not at hand (a scheduled run over every table)."""
    store = VectorStore(db_uri)
    table = table or table_name(encoder, weights, options)
    if not store.has(table):
        raise LookupError(store.missing(encoder, weights, options))
    t = store.rows(table, dataset)
    if t.num_rows == 0:
        raise LookupError(f"table {table!r} holds no rows for dataset {dataset!r}")
    X = np.stack(t["vector"].to_numpy(zero_copy_only=False)).astype(np.float32)
    return Features(
        ids=t["id"].to_pylist(),
        X=X,
        labels=[json.loads(s or "{}") for s in t["labels"].to_pylist()],
        split=t["split"].to_pylist(),
        group=t["group"].to_pylist(),
        identity=store.identity(table),
        datasets=t["dataset"].to_pylist(),
        hashes=t["content_hash"].to_pylist(),
        uris=t["uri"].to_pylist(),
    )


def check_stored(
    db_uri: str,
    encoder: str,
    weights: str | None,
    options: dict[str, Any] | None,
    dataset: str | None,
    one: bool = True,
) -> None:
    """Before a head's flow starts: the encoder's table is there (else the tables it has, and their weights) and
    the datasets named are in it (or it holds one); a mistake is one line (exit 2), not a failed flow run."""
    from embedforge.tasks.preflight import PreflightError
    from embedforge.tasks.splits import one_dataset

    store = VectorStore(db_uri)
    table = table_name(encoder, weights, options)
    if not store.has(table):
        raise PreflightError(store.missing(encoder, weights, options))
    present = store.datasets(table)
    unknown = [d for d in (x.strip() for x in (dataset or "").split(",")) if d and d not in present]
    if unknown:
        names = ", ".join(repr(d) for d in unknown)
        raise PreflightError(f"table {table!r} holds no dataset {names}; it holds {', '.join(present[:8])}")
    if one:  # training: several datasets only when named
        one_dataset(present, dataset)
