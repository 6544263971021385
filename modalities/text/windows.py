"""``-o chunks=rows``: long documents as overlapping word windows, each a row that says which characters it holds.

A search hit on a 40-page document is only useful if it says where: each window is an item ``DOC#START-END``
(character offsets into the document's text, end exclusive) with the span and the document's id in its labels,
the document's split, and the document as its group (so its windows never straddle train and test). Windows are
``window`` words long (default 160: about 210 word pieces, inside MiniLM's 256) and share ``overlap`` words
(default 32). A document no longer than one window is one row, as without the option. Words are maximal runs of
non-space characters, so a span starts at a word and ends after one.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace
from typing import Any

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.text.sample import Text

WINDOW, OVERLAP = 160, 32
_WORD = re.compile(r"\S+")
_SPAN = re.compile(r"^(?P<doc>.*)#(?P<start>\d+)-(?P<end>\d+)$")


def word_spans(text: str, window: int = WINDOW, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """Character spans of overlapping windows of ``window`` words; the last window ends at the last word."""
    words = [m.span() for m in _WORD.finditer(text)]
    if len(words) <= window:
        return [(0, len(text))]
    return [(words[a][0], words[a + window - 1][1]) for a in window_starts(len(words), window, overlap)]


def window_starts(n: int, window: int, overlap: int) -> list[int]:
    """Starts of the fewest windows of ``window`` units over ``n`` that overlap by at least ``overlap``, evenly
    spaced from the first unit to the last (no sliver of a window at the end)."""
    if n <= window:
        return [0]
    count = math.ceil((n - window) / max(1, window - overlap)) + 1
    return [round(i * (n - window) / (count - 1)) for i in range(count)]


def window_hash(doc_hash: str, start: int, end: int) -> str:
    """A window's content hash: its document's and its span's."""
    return hashlib.sha256(f"{doc_hash}:{start}:{end}".encode()).hexdigest()


class WindowedText(Dataset):
    """Any text dataset with its documents cut into word windows (queries and short documents stay whole)."""

    modality = "text"

    def __init__(self, inner: Dataset, window: int = WINDOW, overlap: int = OVERLAP) -> None:
        if not 0 <= overlap < window:
            raise ValueError(f"chunks=rows needs 0 <= overlap < window, got window={window}, overlap={overlap}")
        self.inner, self.window, self.overlap = inner, int(window), int(overlap)
        self.shard_by, self.prefetch = inner.shard_by, inner.prefetch  # the wrapped adapter's, not the defaults
        self._docs: dict[str, Item] = {}

    def items(self) -> list[Item]:
        out = []
        for item in self.inner.items():
            self._docs[item.id] = item
            try:
                text = self.inner.load(item)
            except ItemError:
                out.append(item)  # fails again at load, naming the document: a recorded failure, not a skip
                continue
            spans = word_spans(text.text, self.window, self.overlap) if text.role == "document" else [(0, 0)]
            if len(spans) == 1:
                out.append(item)
                continue
            for start, end in spans:
                labels = {**item.labels, "doc": item.id, "span": f"{start}-{end}"}
                digest = window_hash(item.content_hash, start, end)
                out.append(replace(item, id=f"{item.id}#{start}-{end}", content_hash=digest, labels=labels,
                                   group=item.id))  # fmt: skip
        return out

    def load(self, item: Item) -> Any:
        found = _SPAN.match(item.id)
        if found is None or found["doc"] not in self._docs:
            return self.inner.load(self._docs.get(item.id, item))
        text: Text = self.inner.load(self._docs[found["doc"]])
        start, end = int(found["start"]), int(found["end"])
        if end > len(text.text):
            raise ItemError(f"{item.id}: the document is shorter than this window ({len(text.text)} characters)")
        return Text(text.text[start:end], text.role)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)  # shard_by, prefetch, ... of the wrapped dataset


def windowed(ds: Dataset, chunks: str | None, window: Any = WINDOW, overlap: Any = OVERLAP) -> Dataset:
    """``ds`` itself, or its documents in windows when ``chunks=rows``."""
    if chunks in (None, "", "none"):
        return ds
    if chunks != "rows":
        raise ValueError(
            f"chunks={chunks!r}: a dataset option takes chunks=rows (a row per window); to pool windows into one "
            "vector per document pass the encoder option chunks=mean (--encoder-option chunks=mean)"
        )
    return WindowedText(ds, int(window), int(overlap))
