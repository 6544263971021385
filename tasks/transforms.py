"""Derived vector tables: a registered transform fitted on a stored table, with its lineage in the metadata.

``derive`` writes ``SOURCE--NAMEk`` (e.g. ``speech__ge2e--whiten128``): the same rows, transformed vectors, the
source identity with the new dimension and a ``transform`` record (name, k, source table and version, rows it
was fitted on, bytes per vector). Quantizers also keep their compact ``codes``; their ``vector`` column holds
the decoded values, so heads and readers work unchanged. The fitted state (means, whitening matrix, ranges)
lives in the ``transforms`` table, so queries are transformed the same way.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa

from embedforge.registry.transforms import VectorTransform, build_transform
from embedforge.tasks.filters import sql_eq

TRANSFORM_KEY = b"embedforge.transform"
STATE_TABLE = "transforms"
STATE_SCHEMA = pa.schema(
    [
        pa.field("derived", pa.string(), nullable=False),
        pa.field("lineage", pa.string(), nullable=False),
        pa.field("state", pa.binary(), nullable=False),
    ]
)


def derived_name(source: str, name: str, k: int | None) -> str:
    """``speech__ge2e`` + whiten 128 -> ``speech__ge2e--whiten128``."""
    return f"{source}--{name}{k if k is not None else ''}"


def derive(
    *, store, source: str, name: str, k: int | None = None, fit_split: str | None = "train", dataset: str | None = None
) -> dict[str, Any]:
    """Fit ``name`` on the source table (its ``fit_split`` rows when it has any) and write the derived table."""
    from embedforge.tasks.index import after_write

    rows = store.rows(source, dataset)
    if rows.num_rows == 0:
        raise LookupError(f"table {source!r} has no rows to transform")
    X = np.stack(rows["vector"].to_numpy(zero_copy_only=False)).astype(np.float32)
    splits = np.array(rows["split"].to_pylist(), dtype=object)
    fit_mask = splits == fit_split if fit_split and (splits == fit_split).any() else np.ones(len(X), bool)
    transform = build_transform(name, k).fit(X[fit_mask])
    identity = store.identity(source)
    lineage = {
        "transform": name,
        "k": k,
        "source_table": source,
        "source_version": store.db.open_table(source).version,
        "source_dim": X.shape[1],
        "dim": transform.out_dim(X.shape[1]),
        "rows": len(X),
        "fit_rows": int(fit_mask.sum()),
        "fit_split": fit_split if fit_mask.sum() < len(X) else "all",
        "bytes_per_vector": transform.bytes_per_vector(X.shape[1]),
        "quantized": transform.quantized,
        "dataset": dataset,
        "created_at": datetime.now(UTC).isoformat(),
    }
    table = derived_name(source, name, k)
    data = _derived_rows(rows, transform, X, dict(identity, dim=lineage["dim"], transform=lineage))
    _save_state(store, table, lineage, transform)  # first: a reader of the new table version finds its state
    tbl = store.db.create_table(table, data, mode="overwrite")
    after_write(tbl)
    return dict(lineage, table=table)


def _derived_rows(rows: pa.Table, transform: VectorTransform, X: np.ndarray, identity: dict[str, Any]) -> pa.Table:
    """The source rows with the transformed vectors (and codes), under the derived identity and lineage."""
    from embedforge.tasks.schema import row_key, vector_schema

    Y = transform.apply(X)
    schema = vector_schema(identity)
    meta = {**schema.metadata, TRANSFORM_KEY: json.dumps(identity["transform"]).encode()}
    n = rows.num_rows
    keys = [row_key(d, i) for d, i in zip(rows["dataset"].to_pylist(), rows["id"].to_pylist())]
    cols = {name: rows[name] for name in ("dataset", "id", "uri", "content_hash", "split", "group", "labels")}
    cols["key"] = pa.array(keys)
    cols["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(Y.ravel()), Y.shape[1])
    cols["embedded_at"] = pa.array([datetime.now(UTC)] * n, type=schema.field("embedded_at").type)
    fields = list(schema)
    if transform.quantized:
        codes = np.asarray(transform.codes(X))
        code_type = pa.int8() if codes.dtype == np.int8 else pa.uint8()
        cols["codes"] = pa.FixedSizeListArray.from_arrays(pa.array(codes.ravel(), type=code_type), codes.shape[1])
        fields.append(pa.field("codes", pa.list_(code_type, codes.shape[1])))
    out_schema = pa.schema(fields, metadata=meta)
    return pa.Table.from_arrays([cols[f.name].cast(f.type) for f in out_schema], schema=out_schema)


def _save_state(store, table: str, lineage: dict[str, Any], transform: VectorTransform) -> None:
    buf = io.BytesIO()
    np.savez(buf, **cast(dict[str, Any], transform.state))
    row = pa.Table.from_pylist(
        [{"derived": table, "lineage": json.dumps(lineage), "state": buf.getvalue()}], schema=STATE_SCHEMA
    )
    states = store.open_or_create(STATE_TABLE, STATE_SCHEMA)  # under the store's lock; a half-made one rebuilt
    with store.commit_lock(STATE_TABLE):
        states.merge_insert("derived").when_matched_update_all().when_not_matched_insert_all().execute(row)


def lineage(store, table: str) -> dict[str, Any] | None:
    """The transform record of a derived table (None for a table an encoder wrote)."""
    meta = store.db.open_table(table).schema.metadata or {}
    return json.loads(meta[TRANSFORM_KEY]) if TRANSFORM_KEY in meta else None


def load_transform(store, table: str) -> VectorTransform:
    """The fitted transform of a derived table, to map queries into its space."""
    found = store.db.open_table(STATE_TABLE).search().where(sql_eq("derived", table)).limit(1).to_list()
    if not found:
        raise LookupError(f"no fitted transform recorded for {table!r}")
    record = json.loads(found[0]["lineage"])
    with np.load(io.BytesIO(found[0]["state"])) as state:
        return build_transform(record["transform"], record["k"]).load(dict(state))


def search_derived(
    *, store, table: str, vector: np.ndarray, k: int = 10, where: str | None = None, rescore: int = 4
) -> list[dict[str, Any]]:
    """Nearest rows of a derived table to a query in the source space; quantized tables rescore candidates."""
    tbl = store.db.open_table(table)
    transform = _fitted(store.uri, table, tbl.version, store)
    q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
    if not transform.quantized:
        return store.search(table, transform.apply(q)[0], k, where)
    codes, ids, datasets = _codes(store.uri, table, tbl.version, where, tbl)
    order = _rescored(transform, q, codes, k, rescore)
    return [{"dataset": datasets[i], "id": ids[i], "_distance": float(d)} for i, d in order]


_CACHE: dict[tuple, Any] = {}  # (uri, table, version, what) -> fitted transform or codes; a few entries


def _cached(key: tuple, make):
    """Per table version, so a write (a new version) is never served stale."""
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = make()
    return _CACHE[key]


def _fitted(uri: str, table: str, version: int, store) -> VectorTransform:
    """The fitted transform of one table version (queries reuse it)."""
    return _cached((uri, table, version, "fit"), lambda: load_transform(store, table))


def _codes(uri: str, table: str, version: int, where: str | None, tbl) -> tuple[np.ndarray, list, list]:
    """The compact codes of one table version (and filter), read once: a quantized search scans them."""

    def read():
        query = tbl.search().select(["dataset", "id", "codes"])
        if where:
            query = query.where(where)
        t = query.limit(max(1, tbl.count_rows())).to_arrow()
        codes = np.stack(t["codes"].to_numpy(zero_copy_only=False)) if t.num_rows else np.zeros((0, 0), np.uint8)
        return codes, t["id"].to_pylist(), t["dataset"].to_pylist()

    return _cached((uri, table, version, "codes", where), read)


def _rescored(transform: VectorTransform, q: np.ndarray, codes: np.ndarray, k: int, rescore: int):
    """Coarse top k x rescore on the codes (Hamming for binary), then cosine of the float query on those."""
    if transform.name == "binary":
        qbits = np.asarray(transform.codes(q))
        coarse = np.unpackbits(np.bitwise_xor(codes, qbits), axis=1).sum(1)
    else:
        dec = transform.decode(codes)
        coarse = -(dec @ q[0]) / (np.linalg.norm(dec, axis=1) + 1e-12)  # cosine order
    cand = np.argsort(coarse, kind="stable")[: max(k, k * rescore)]
    target = q[0] - transform.state["mean"] if "mean" in transform.state else q[0]
    dec = transform.decode(codes[cand])
    cos = dec @ target / (np.linalg.norm(dec, axis=1) * np.linalg.norm(target) + 1e-12)
    best = np.argsort(-cos, kind="stable")[:k]
    return [(int(cand[i]), 1.0 - float(cos[i])) for i in best]


def transform_features(*, X: np.ndarray, split: list[str | None], spec: str) -> tuple[np.ndarray, int]:
    """``whiten:32`` etc. fitted on the train rows and applied to all: (features, bytes per vector).

    For a leaderboard ``transform`` column: accuracy read against bytes per vector without a derived table.
    """
    if spec.partition(":")[0] in ("", "none"):
        return X, 4 * X.shape[1]
    train = np.array([s == "train" for s in split], dtype=bool)
    transform = fitted_transform(spec, X[train] if train.any() else X)
    return transform.apply(X), transform.bytes_per_vector(X.shape[1])


def fitted_transform(spec: str, X: np.ndarray) -> VectorTransform:
    """``int8`` or ``pca:32`` (a registry key and its size) fitted on ``X``."""
    name, _, k = spec.partition(":")
    return build_transform(name, int(k) if k else None).fit(X)
