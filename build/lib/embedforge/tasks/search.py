"""Query a vector table with a raw file, embedded by the encoder that made the table."""

from __future__ import annotations

from typing import Any

from embedforge.registry.datasets import read_query
from embedforge.tasks.embed import cached_encoder
from embedforge.tasks.store import VectorStore, table_name


def search_file(
    db_uri: str, encoder: str, path: str, k: int = 10, weights: str | None = None, dataset: str | None = None
) -> list[dict[str, Any]]:
    """Nearest stored items to one file; refuses a table made by other weights."""
    store = VectorStore(db_uri)
    table = table_name(encoder, weights)
    if not store.has(table):
        raise LookupError(f"no table {table!r} in {db_uri}: embed a dataset with {encoder} first")
    model = cached_encoder(encoder, weights, "cpu")
    store.check_identity(table, store.identity(table), model.identity())
    vector = model.encode([model.preprocess(read_query(model.spec.modality, path), path)])[0]
    where = f"dataset = '{dataset}'" if dataset else None
    return store.search(table, vector, k, where)
