"""Query a vector table with a raw file, embedded by the encoder that made the table (no Prefect here)."""

from __future__ import annotations

from typing import Any

from embedforge.modalities.base import ItemError, QuerySide, TextTower
from embedforge.registry.cache import cached_encoder
from embedforge.registry.modalities import Modality, modality_of_encoder
from embedforge.tasks.filters import sql_eq
from embedforge.tasks.store import VectorStore, table_name


def search_file(
    *,
    db_uri: str,
    encoder: str,
    path: str,
    k: int = 10,
    weights: str | None = None,
    dataset: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    where: str | None = None,
) -> list[dict[str, Any]]:
    """Nearest stored items to one file; the encoder's modality reads it; refuses a table made by other weights."""
    reader = modality_of_encoder(encoder)
    if reader.read_query is None:
        raise ValueError(f"modality {reader.name!r} has no query reader: {encoder} tables cannot be searched by file")
    store, table, model = table_and_encoder(db_uri, encoder, weights, encoder_options)
    prepare = model.preprocess_query if isinstance(model, QuerySide) else model.preprocess
    vector = model.encode([prepare(_read(reader, path), path)])[0]
    return store.search(table, vector, k, row_filter(store, table, dataset, where))


def table_and_encoder(db_uri: str, encoder: str, weights: str | None, options: dict[str, Any] | None):
    """The encoder's table and the encoder itself, refused where the table was made by other weights."""
    store = VectorStore(db_uri)
    table = table_name(encoder, weights, options)
    if not store.has(table):
        raise LookupError(store.missing(encoder, weights, options))
    model = cached_encoder(encoder, weights, options=options)
    store.check_identity(table, store.identity(table), model.identity())
    return store, table, model


def _read(reader: Modality, path: str) -> Any:
    """The modality's reader; any failure becomes an ItemError naming the query file."""
    try:
        return reader.read_query(path)  # type: ignore[misc]
    except ItemError:
        raise
    except Exception as exc:  # a reader may raise anything on a bad query file: the caller gets one error naming it
        raise ItemError(f"{path}: cannot read the query as {reader.name} ({type(exc).__name__}: {exc})") from None


def search_text(
    *,
    db_uri: str,
    encoder: str,
    text: str,
    k: int = 10,
    weights: str | None = None,
    dataset: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    where: str | None = None,
) -> list[dict[str, Any]]:
    """Nearest stored items to a sentence, embedded by the text tower of the same weights (CLIP-style encoders)."""
    store, table, model = table_and_encoder(db_uri, encoder, weights, encoder_options)
    if not isinstance(model, TextTower):
        raise ValueError(f"{encoder} has no text tower: search its table with --query FILE")
    vector = model.encode_text([text])[0]
    return store.search(table, vector, k, row_filter(store, table, dataset, where))


def row_filter(store: VectorStore, table: str, dataset: str | None, where: str | None) -> str | None:
    """The prefilter of a search: one dataset, and ``--where`` over the table's columns or, once ``analyze`` ran,
    over its answers too (``cluster = 3 AND outlier < 0.9``): the matching keys are read from the analysis table."""
    from embedforge.tasks.analysis_table import analysis_table
    from embedforge.tasks.filters import sql_in

    parts = [sql_eq("dataset", dataset)] if dataset else []
    if where:
        analysed = store.opened(analysis_table(table)) if _names_answers(where) else None
        if analysed is None:  # the table's own columns (split, labels, ...): every row is a candidate
            _rows_matching(store.opened(table), where, "id", limit=1)  # a bad filter named now, not at search
            parts.append(f"({where})")
        else:  # an analysis column: the rows analyze answered (a row never analysed matches none)
            parts.append(sql_in("key", _rows_matching(analysed, where, "key", limit=None)))
    return " AND ".join(parts) or None


def _names_answers(where: str) -> bool:
    """The filter names a column only ``analyze`` writes (``cluster``, ``outlier``, ...)."""
    import re

    from embedforge.tasks.schema import ANALYSIS_COLUMNS

    answers = {f.name for f in ANALYSIS_COLUMNS}
    return any(word in answers for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", where)))


def _rows_matching(tbl: Any, where: str, column: str, limit: int | None) -> list[Any]:
    """``column`` of the rows ``where`` selects, the filter's mistake (unknown column, bad SQL) in one line."""
    if tbl is None:
        return []
    try:
        return tbl.search().where(where).select([column]).limit(limit).to_arrow()[column].to_pylist()
    except (ValueError, RuntimeError) as exc:  # lance's words for an unknown column or bad SQL
        raise ValueError(f"--where {where!r}: {str(exc).splitlines()[0]}") from None
