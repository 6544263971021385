"""``beir:DIR``: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/{train,dev,test}.tsv``) as one table.

Corpus documents and queries are items of one dataset, told apart by their ``role`` label (``corpus``/``query``):
ids ``corpus/<_id>`` and ``query/<_id>``. A document's text is its title and text joined as BEIR's
``SentenceBERT.encode_corpus`` does (``(title + " " + text).strip()``); a query loads as a query-side ``Text``
(the encoder's query prompt). A query's split is the qrels file that judges it (``dev`` is ``val``); documents
are ``train``: the corpus an index is built from, and what a fitted encoder (``text/tfidf-svd``) is fit on.
``qrels(split)`` gives the relevance judgements for retrieval metrics (``retrieval.py``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.text.datasets import SPLIT_NAMES
from embedforge.modalities.text.sample import MAX_TEXT_BYTES, Text, checked_text
from embedforge.modalities.text.windows import OVERLAP, WINDOW, windowed
from embedforge.registry.datasets import DATASETS

QREL_SPLITS = ("train", "dev", "test")


def beir_hash(role: str, text: str | None) -> str:
    """A corpus document's or query's content hash: its role's and its text's."""
    return hashlib.sha256(f"{role}\0{text}".encode()).hexdigest()


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    out: list[tuple[int, dict[str, Any] | str]] = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                out.append((n, f"{path.name} line {n}: not a JSON object ({exc})"))
                continue
            out.append((n, rec if isinstance(rec, dict) else f"{path.name} line {n}: not a JSON object"))
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id  corpus-id  score`` (a header row is skipped) -> {query: {doc: relevance}}."""
    out: dict[str, dict[str, int]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t")):
            if not row or (n == 0 and row[0] == "query-id"):
                continue
            if len(row) < 3:
                raise ValueError(f"{path} line {n + 1}: expected query-id, corpus-id, score")
            out.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    return out


class BEIRDataset(Dataset):
    modality = "text"

    def __init__(self, root: Path, limit: int = MAX_TEXT_BYTES) -> None:
        self.root, self.limit = root, int(limit)
        for name in ("corpus.jsonl", "queries.jsonl"):
            if not (root / name).is_file():
                raise FileNotFoundError(f"beir: no {name} in {root}")

    def qrels(self, split: str = "test") -> dict[str, dict[str, int]]:
        """Judgements of one split (``test``, ``dev``/``val``, ``train``), keyed by the BEIR ids."""
        name = "dev" if split in ("dev", "val") else split
        path = self.root / "qrels" / f"{name}.tsv"
        if not path.is_file():
            raise FileNotFoundError(f"beir: no qrels/{name}.tsv in {self.root}")
        return read_qrels(path)

    def judgements(self, split: str = "test") -> tuple[dict[str, dict[str, int]], list[str]]:
        """The split's qrels that name a query and a document of this folder, and one line per judgement left
        out (its document or query is not in corpus.jsonl / queries.jsonl): scored without those, and said so.
        A document that is there but failed to embed stays judged: not finding it is that encoder's miss."""
        ids: dict[str, set[str]] = {"corpus": set(), "query": set()}
        for key, (_, _, role) in self._records.items():
            ids[role].add(key.split("/", 1)[1])
        kept: dict[str, dict[str, int]] = {}
        left: list[str] = []
        for qid, judged in self.qrels(split).items():
            for doc, relevance in judged.items():
                if doc not in ids["corpus"]:
                    left.append(f"{qid} -> {doc}: no document {doc!r} in corpus.jsonl")
                elif qid not in ids["query"]:
                    left.append(f"{qid} -> {doc}: no query {qid!r} in queries.jsonl")
                else:
                    kept.setdefault(qid, {})[doc] = relevance
        return kept, left

    @cached_property
    def _records(self) -> dict[str, tuple[str | None, str | None, str]]:
        """item id -> (text or None, error or None, role)."""
        out: dict[str, tuple[str | None, str | None, str]] = {}
        for role, name in (("corpus", "corpus.jsonl"), ("query", "queries.jsonl")):
            for n, rec in _jsonl(self.root / name):
                if isinstance(rec, str):
                    out[f"{role}/line{n}"] = (None, rec, role)
                    continue
                key = f"{role}/{rec.get('_id', f'line{n}')}"
                text, title = rec.get("text"), rec.get("title") or ""
                if not isinstance(text, str) or not isinstance(title, str):
                    out[key] = (None, f"{name} line {n}: text/title are not strings", role)
                elif key in out:
                    out[f"{key}#line{n}"] = (None, f"{name} line {n}: duplicate _id", role)
                else:
                    out[key] = ((title + " " + text).strip() if role == "corpus" and title else text, None, role)
        return out

    @cached_property
    def _query_splits(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in QREL_SPLITS:
            path = self.root / "qrels" / f"{name}.tsv"
            if path.is_file():
                for qid in read_qrels(path):
                    out.setdefault(qid, SPLIT_NAMES[name])
        return out

    def items(self) -> list[Item]:
        out = []
        for key, (text, error, role) in self._records.items():
            digest = beir_hash(role, text) if error is None else hashlib.sha256(f"bad:{error}".encode()).hexdigest()
            bid = key.split("/", 1)[1]
            out.append(
                Item(
                    id=key,
                    uri=f"{self.root / ('corpus.jsonl' if role == 'corpus' else 'queries.jsonl')}#{bid}",
                    content_hash=digest,
                    labels={"role": role},
                    split=self._query_splits.get(bid) if role == "query" else "train",
                )
            )
        return out

    def load(self, item: Item) -> Text:
        rec = self._records.get(item.id)
        if rec is None:
            raise ItemError(f"{item.id}: no such document or query in {self.root}")
        text, error, role = rec
        if error:
            raise ItemError(f"{item.id}: {error}")
        return checked_text(text, item.id, self.limit, role="query" if role == "query" else "document")


def _open(arg: str, chunks: str | None = None, window: Any = WINDOW, overlap: Any = OVERLAP, **options: Any):
    """``beir:DIR``; ``-o chunks=rows`` cuts long corpus documents into window rows (queries stay whole), which
    retrieval scores per document by its best window (MaxP)."""
    root = Path(arg).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"beir: {root} is not a directory")
    return windowed(BEIRDataset(root, **options), chunks, window, overlap)


DATASETS.register("beir", _open)
