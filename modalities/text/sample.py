"""The text sample, and text from one file or one request (``search --query note.txt``, a served ``text`` column).

Text is UTF-8. A file or request that is empty (or only whitespace), holds a NUL byte (a binary file named
``.txt``), is not valid UTF-8 or is longer than ``MAX_TEXT_BYTES`` is refused with an ``ItemError`` naming it:
in a dataset that item fails alone and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedforge.modalities.base import ItemError

MAX_TEXT_BYTES = 1 << 20  # 1 MiB: far past what any encoder reads (256-512 word pieces), well short of a dump
QUERY_SUFFIXES = (".txt",)
ROLES = ("document", "query")


@dataclass(frozen=True)
class Text:
    """One document or query. ``role`` picks the encoder's prompt where its weights declare one (BEIR queries)."""

    text: str
    role: str = "document"


def decode_text(data: bytes, name: str, limit: int = MAX_TEXT_BYTES) -> Text:
    """UTF-8 bytes -> one document (the served models' raw-input decoder); ItemError naming ``name`` otherwise."""
    if len(data) > limit:
        raise ItemError(f"{name}: {len(data)} bytes of text, over the {limit} byte limit")
    if b"\x00" in data:
        raise ItemError(f"{name}: holds NUL bytes: a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemError(f"{name}: not valid UTF-8 text (byte {exc.start})") from None
    return checked_text(text, name, limit)


def checked_text(text: object, name: str, limit: int = MAX_TEXT_BYTES, role: str = "document") -> Text:
    """A non-empty string within the limit, as a ``Text`` (table cells and JSON fields come through here)."""
    if not isinstance(text, str):
        raise ItemError(f"{name}: text is a {type(text).__name__}, not a string")
    if not text.strip():
        raise ItemError(f"{name}: empty text")
    if "\x00" in text:
        raise ItemError(f"{name}: holds NUL characters: not text")
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise ItemError(f"{name}: text over the {limit} byte limit")
    return Text(text, role)


def read_file(path: str | Path, name: str | None = None, limit: int = MAX_TEXT_BYTES) -> Text:
    """A text file, read at most ``limit + 1`` bytes deep (a huge file is refused without reading it all)."""
    label = name or str(path)
    p = Path(path)
    if not p.is_file():
        raise ItemError(f"{label}: no such text file")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ItemError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    return decode_text(data, label, limit)


def read_text(path: str) -> Text:
    """``search --query note.txt``: one file -> one Text (the encoder embeds it on the query side)."""
    if Path(path).suffix.lower() not in QUERY_SUFFIXES:
        raise ItemError(f"{path}: unsupported text file (expected one of {', '.join(QUERY_SUFFIXES)})")
    return read_file(path)


PREVIEW_CHARS = 90


def previews(hits: list[dict[str, Any]]) -> list[str | None]:
    """The start of each hit's passage, on one line, for ``search``: a file of its own, a row of a CSV/JSONL/Parquet
    file or BEIR corpus (the text that was embedded, ``passages.py``), or its window (the ``span`` label of
    ``-o chunks=rows``); None where there is none to show."""
    from embedforge.modalities.text.passages import row_passages

    spans = [_span(str((hit.get("labels") or {}).get("span") or "")) for hit in hits]
    rows = row_passages(hits, spans)
    out = []
    for hit, span, row in zip(hits, spans, rows):
        text = row if row is not None else _file_passage(str(hit.get("uri") or ""), span)
        flat = None if text is None else " ".join(text.split())
        out.append(flat if flat is None or len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…")
    return out


def _file_passage(uri: str, span: tuple[int, int] | None) -> str | None:
    """A ``.txt`` document's text, or its window's."""
    path = Path(uri.split("#", 1)[0])
    if path.suffix.lower() != ".txt" or not path.is_file():
        return None
    try:
        text = read_file(path).text
    except (ItemError, OSError):
        return None
    return text if span is None else text[span[0] : span[1]]


def _span(label: str) -> tuple[int, int] | None:
    """``START-END`` (a window's ``span`` label) -> (start, end)."""
    if label.count("-") == 1 and label.replace("-", "").isdigit():
        start, end = (int(x) for x in label.split("-"))
        return start, end
    return None
