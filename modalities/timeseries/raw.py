"""Series from one file or one request: a ``.ts``, ``.npy`` or ``.csv`` query, or the bytes a served model gets.

A ``.npy`` holds channels x time (or one 1-D series); a CSV holds one column per channel with time in rows
(a single row is one univariate series; a header row is skipped); a ``.ts`` file must hold exactly one case.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from embedforge.modalities.base import ItemError, Series

NPY_MAGIC = b"\x93NUMPY"
QUERY_SUFFIXES = (".ts", ".npy", ".csv")


def read_series(path: str) -> Series:
    """One query file -> one Series, or an ItemError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ItemError(f"{path}: no such series file")
    suffix = p.suffix.lower()
    if suffix == ".ts":
        return _checked(_read_ts(p), path)
    if suffix in (".npy", ".csv", ".txt"):
        return decode_series(p.read_bytes(), path)
    raise ItemError(f"{path}: unsupported series file (expected one of {', '.join(QUERY_SUFFIXES)})")


def decode_series(data: bytes, name: str) -> Series:
    """Bytes of a ``.npy`` file or of CSV text -> one Series (the served models' raw-input decoder)."""
    if not data:
        raise ItemError(f"{name}: empty series (0 bytes)")
    if data.startswith(NPY_MAGIC):
        try:
            values = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # numpy raises several types for a bad .npy: the row's error names it
            raise ItemError(f"{name}: not a readable .npy array ({exc})") from None
        return _checked(values, name)
    return _checked(_parse_csv(data, name), name)


def _parse_csv(data: bytes, name: str) -> np.ndarray:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ItemError(f"{name}: neither a .npy array nor CSV text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    for skip in (0, 1):  # a header row is skipped
        try:
            values = np.loadtxt(io.StringIO("\n".join(lines[skip:])), delimiter=",", dtype=np.float32, ndmin=2)
        except ValueError:
            continue
        return values if values.shape[0] == 1 else values.T  # one column per channel, time in rows
    raise ItemError(f"{name}: CSV is not a table of numbers")


def _read_ts(path: Path) -> np.ndarray:
    from aeon.datasets import load_from_ts_file

    try:
        X, _ = load_from_ts_file(str(path))
    except Exception as exc:  # aeon's reader raises many types: the file's error names it
        raise ItemError(f"{path}: not a readable .ts file ({exc})") from None
    if len(X) != 1:
        raise ItemError(f"{path}: a query .ts file must hold one series, it holds {len(X)}")
    return np.asarray(X[0], dtype=np.float32)


def _checked(values: np.ndarray, name: str) -> Series:
    """A numeric 1-D or channels x time array with at least one observed value."""
    try:
        x = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ItemError(f"{name}: series values are not numbers") from None
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or 0 in x.shape:
        raise ItemError(f"{name}: expected a 1-D or channels x time series, got shape {x.shape}")
    if np.isinf(x).any() or np.isnan(x).all():
        raise ItemError(f"{name}: series holds inf or no observed value")
    return Series(x)
