"""A cardiac recording from one query file or one request: a WFDB record, or an ECG array (``.npy``/``.csv``).

WFDB records carry their rate and lead names. Arrays carry none, so they are read at the encoders' rate
(250 Hz); a CSV header names the leads, otherwise the channel count picks the defaults (1: II, 12: 12-lead).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from embedforge.modalities.base import ItemError
from embedforge.modalities.cardiac.signal import TARGET_RATE, CardiacSeries, sample_leads

QUERY_SUFFIXES = (".hea", ".dat", ".npy", ".csv")
ARRAY_RATE = float(TARGET_RATE)


def read_cardiac(path: str) -> CardiacSeries:
    """A WFDB record (its ``.hea``, ``.dat`` or bare record path) or an array file -> one CardiacSeries."""
    p = Path(path)
    if p.suffix.lower() in (".hea", ".dat") or (not p.suffix and p.with_suffix(".hea").is_file()):
        return read_wfdb(p.with_suffix(""), path)
    if not p.is_file():
        raise ItemError(f"{path}: no such cardiac record or array file")
    if p.suffix.lower() not in (".npy", ".csv"):
        raise ItemError(f"{path}: unsupported cardiac file (expected one of {', '.join(QUERY_SUFFIXES)})")
    return read_array_file(str(p), path)


def read_wfdb(record: Path, name: str) -> CardiacSeries:
    """The whole record, physical units, with its rate and lead names."""
    import wfdb

    if not record.with_suffix(".hea").is_file():
        raise ItemError(f"{name}: no WFDB header {record.with_suffix('.hea')}")
    try:
        r = wfdb.rdrecord(str(record), physical=True)
    except Exception as exc:  # wfdb raises many types for a bad record: the request's error names it
        raise ItemError(f"{name}: cannot read WFDB record {record.name} ({exc})") from None
    return CardiacSeries(np.asarray(r.p_signal, dtype=np.float32).T, float(r.fs), tuple(r.sig_name))


def read_array_file(path: str, name: str) -> CardiacSeries:
    """An ECG array file at 250 Hz, leads from a CSV header or the defaults for its channel count."""
    from embedforge.modalities.cardiac.datasets import read_array

    try:
        values, leads = read_array(path)
    except Exception as exc:  # the array readers raise many types: the request's error names it
        raise ItemError(f"{name}: cannot read ECG array ({exc})") from None
    series = CardiacSeries(np.asarray(values, dtype=np.float32), ARRAY_RATE, tuple(leads))
    return replace(series, leads=sample_leads(series, name))


def decode_cardiac(data: bytes, name: str) -> CardiacSeries:
    """Bytes of a ``.npy`` or CSV file (the served models' raw-input decoder) -> one CardiacSeries."""
    if not data:
        raise ItemError(f"{name}: empty series (0 bytes)")
    suffix = ".npy" if data.startswith(b"\x93NUMPY") else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"request{suffix}"
        path.write_bytes(data)
        return read_array_file(str(path), name)
