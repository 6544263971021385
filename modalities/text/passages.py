"""What ``search`` prints for a hit on a row of a CSV, JSONL or Parquet file (a BEIR corpus too): the row's text.

The vector table keeps the row's file and id (its ``uri``, ``FILE#ID``) and the hash of the text that was embedded,
not the dataset options that chose the text column (``-o text=body``). So the row is looked up by its id or line
number, and of its string fields (and BEIR's title + text) the passage is the one whose content hash is the hit's:
the text that was embedded, whichever column held it. A file changed since (no field matches) or unreadable shows
nothing: never a passage that is not the one the vector came from. One pass over each file a search's hits name,
keeping only the rows asked for (JSONL lines are parsed only where the id's bytes occur; Parquet compares
columns in Arrow).
"""

from __future__ import annotations

import csv
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

_TABLE_URI = re.compile(r"^(?P<path>.*?\.(?:csv|jsonl|parquet))#(?P<key>.+)$", re.IGNORECASE)
Found = dict[str, list[dict[str, Any]]]  # a row's name (id or line number) -> the records of that name


def row_passages(hits: list[dict[str, Any]], spans: list[tuple[int, int] | None]) -> list[str | None]:
    """Per hit, the embedded text of the row its ``uri`` names (its span's characters for a window row), or None."""
    named = [_TABLE_URI.match(str(hit.get("uri") or "")) for hit in hits]
    wanted: dict[str, set[str]] = {}
    for m in named:
        if m is not None:
            wanted.setdefault(m["path"], set()).add(m["key"])
    found = {path: _find(Path(path), keys) for path, keys in wanted.items()}
    out: list[str | None] = []
    for m, hit, span in zip(named, hits, spans):
        records = found[m["path"]].get(m["key"], []) if m is not None else []
        out.append(_embedded_text(records, str(hit.get("content_hash") or ""), span))
    return out


def _embedded_text(records: list[dict[str, Any]], content_hash: str, span: tuple[int, int] | None) -> str | None:
    """The field of these records that hashes to the hit's content hash (a table row's, a BEIR document's or
    query's, or a window of one), cut to the window."""
    from embedforge.modalities.text.beir import beir_hash
    from embedforge.modalities.text.datasets import text_hash
    from embedforge.modalities.text.windows import window_hash

    for text in (t for rec in records for t in _fields(rec)):
        for digest in (text_hash(text), beir_hash("corpus", text), beir_hash("query", text)):
            if span is None and digest == content_hash:
                return text
            if span is not None and window_hash(digest, *span) == content_hash:
                return text[span[0] : span[1]]
    return None


def _fields(rec: dict[str, Any]) -> Iterator[str]:
    yield from (v for v in rec.values() if isinstance(v, str))
    title, text = rec.get("title"), rec.get("text")
    if isinstance(title, str) and isinstance(text, str):
        yield (title + " " + text).strip()  # a BEIR corpus document, as embedded


def _names(line: int, values: Iterable[Any]) -> set[str]:
    """Every name an adapter may have given a row: its line (or row) number, any scalar field (an id column)."""
    return {str(line)} | {str(v) for v in values if isinstance(v, (str, int, float)) and len(str(v)) <= 256}


def _find(path: Path, keys: set[str]) -> Found:
    """The records of ``path`` named by any of ``keys``, numbered as the dataset adapters number them."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return _find_parquet(path, keys)
        return _find_csv(path, keys) if suffix == ".csv" else _find_jsonl(path, keys)
    except (OSError, ValueError, csv.Error):  # UnicodeDecodeError and ArrowInvalid are ValueErrors
        return {}


def _keep(out: Found, line: int, rec: dict[str, Any], keys: set[str]) -> None:
    for key in _names(line, rec.values()) & keys:
        out.setdefault(key, []).append(rec)


def _find_jsonl(path: Path, keys: set[str]) -> Found:
    """Only the lines where a key's bytes occur (raw or JSON-escaped) are parsed: a search in the whole file's
    bytes, not a substring test per line."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    starts = list(accumulate((len(line) + 1 for line in lines), initial=0))
    picked = {int(k) - 1 for k in keys if k.isdecimal() and 0 < int(k) <= len(lines)}
    for needle in {k.encode() for k in keys} | {json.dumps(k)[1:-1].encode() for k in keys}:
        at = data.find(needle)
        while at != -1:
            i = bisect_right(starts, at) - 1
            picked.add(i)
            at = data.find(needle, starts[i + 1])  # the next line on
    out: Found = {}
    for i in sorted(picked):
        try:
            rec = json.loads(lines[i])
        except ValueError:
            continue
        if isinstance(rec, dict):
            _keep(out, i + 1, rec, keys)
    return out


def _find_csv(path: Path, keys: set[str]) -> Found:
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
    out: Found = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        for row in reader:
            if str(reader.line_num) in keys or not keys.isdisjoint(row):
                _keep(out, reader.line_num, dict(zip(header, row)), keys)
    return out


def _find_parquet(path: Path, keys: set[str]) -> Found:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    scalar = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
              or pa.types.is_integer(f.type)]  # fmt: skip
    table = pq.read_table(path, columns=scalar)
    rows = {int(k) - 1 for k in keys if k.isdecimal() and 0 < int(k) <= table.num_rows}
    wanted = pa.array(sorted(keys))
    for column in table.columns:
        hit = pc.is_in(pc.cast(column, pa.string()), value_set=wanted)
        rows.update(pc.indices_nonzero(pc.fill_null(hit, False)).to_pylist())
    out: Found = {}
    for i, rec in zip(sorted(rows), table.take(sorted(rows)).to_pylist()):
        _keep(out, i + 1, rec, keys)
    return out
