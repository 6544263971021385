"""Text dataset adapters: ``textfolder:DIR``, ``csv:PATH``, ``jsonl:PATH``, ``parquet:PATH`` (and ``beir:DIR`` in
``beir.py``).

- ``textfolder:DIR``: one folder per class of ``.txt`` files (``DIR/<class>/<name>.txt``); with ``DIR/train`` and
  ``DIR/test`` (``val``/``dev`` too) those folders are the split, else a seeded stratified split
  (``-o test_fraction=0.3,seed=0``). Item id: the path below ``DIR``; label: the class folder.
- ``csv:PATH`` / ``jsonl:PATH`` / ``parquet:PATH``: one document per row (Parquet: only the named columns are
  read, so a file that also holds other columns, vectors say, costs what its text does);
  ``-o text=COL,label=COL,id=COL,split=COL,group=COL`` name the columns (defaults ``text``, ``label``, ``id``,
  ``split``, ``group``; a missing optional column is not used; ids default to the row number). Without a split
  column, the seeded stratified split.

The content hash is the sha256 of the text (a file's bytes). A row or file that cannot be used (empty, binary,
invalid UTF-8, over ``MAX_TEXT_BYTES``, a malformed JSON line, a duplicate id) is still an item: it fails at
load with an ``ItemError`` naming it, is recorded, and the run goes on.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError, NotARegularFile
from embedforge.modalities.stamps import file_sha256_memo
from embedforge.modalities.text.sample import MAX_TEXT_BYTES, Text, checked_text, read_file
from embedforge.modalities.text.windows import OVERLAP, WINDOW, windowed
from embedforge.registry.datasets import DATASETS

SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val", "dev": "val"}
SUFFIX = ".txt"


def stratified_split(labels: dict[str, Any], test_fraction: float = 0.3, seed: int = 0) -> dict[str, str]:
    """Item id -> "train"/"test": per label, a seeded permutation puts ``round(fraction * n)`` in test."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for item_id in sorted(labels):
        by_label[str(labels[item_id])].append(item_id)
    out = {}
    for label in sorted(by_label):
        ids = by_label[label]
        order = np.random.default_rng(seed).permutation(len(ids))
        test = {ids[i] for i in order[: round(test_fraction * len(ids))]}
        out.update({i: "test" if i in test else "train" for i in ids})
    return out


def text_hash(text: str) -> str:
    """A table row's content hash: its text's (search's passage preview finds the row's text by it)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TextFolder(Dataset):
    """``DIR/<class>/*.txt`` (or ``DIR/<split>/<class>/*.txt``)."""

    modality = "text"

    def __init__(self, root: Path, test_fraction: float = 0.3, seed: int = 0, limit: int = MAX_TEXT_BYTES) -> None:
        self.root, self.test_fraction, self.seed, self.limit = root, float(test_fraction), int(seed), int(limit)

    def _entries(self) -> list[tuple[str, str, str | None]]:
        """(relative path, class, split or None) of every .txt file."""
        split_dirs = [d for d in self.root.iterdir() if d.is_dir() and d.name.lower() in SPLIT_NAMES]
        out: list[tuple[str, str, str | None]] = []
        if split_dirs:
            for sdir in sorted(split_dirs):
                for cls in sorted(d for d in sdir.iterdir() if d.is_dir()):
                    out += [
                        (p.relative_to(self.root).as_posix(), cls.name, SPLIT_NAMES[sdir.name.lower()])
                        for p in sorted(cls.rglob(f"*{SUFFIX}"))
                    ]
            return out
        for cls in sorted(d for d in self.root.iterdir() if d.is_dir()):
            out += [(p.relative_to(self.root).as_posix(), cls.name, None) for p in sorted(cls.rglob(f"*{SUFFIX}"))]
        return out

    def items(self) -> list[Item]:
        entries = self._entries()
        if not entries:
            raise FileNotFoundError(f"textfolder: no <class>/*.txt files under {self.root}")
        splits = stratified_split(
            {rel: cls for rel, cls, split in entries if split is None}, self.test_fraction, self.seed
        )
        out = []
        for rel, cls, split in entries:
            path = self.root / rel
            try:
                digest = file_sha256_memo(path)
            except (NotARegularFile, OSError) as exc:
                digest = hashlib.sha256(f"unreadable:{rel}:{exc}".encode()).hexdigest()
            out.append(
                Item(id=rel, uri=str(path), content_hash=digest, labels={"label": cls}, split=split or splits[rel])
            )
        return out

    def load(self, item: Item) -> Text:
        return read_file(self.root / item.id, item.id, self.limit)


@dataclass(frozen=True)
class Row:
    """One table row as read: its text or why it cannot be used (naming file and line)."""

    id: str
    text: str | None
    label: Any = None
    split: str | None = None
    group: str | None = None
    error: str | None = None
    line: int = 0  # where it is in the file (a line of a CSV or JSONL file, a row of a Parquet file)


class TableDataset(Dataset):
    """One document per row of a CSV, JSONL or Parquet file."""

    modality = "text"
    kind = "table"
    unit = "line"  # how a row is named in messages

    def __init__(
        self,
        path: Path,
        text: str = "text",
        label: str = "label",
        id: str = "id",
        split: str = "split",
        group: str = "group",
        test_fraction: float = 0.3,
        seed: int = 0,
        limit: int = MAX_TEXT_BYTES,
    ) -> None:
        self.path = path
        self.columns = {"text": text, "label": label, "id": id, "split": split, "group": group}
        self.test_fraction, self.seed, self.limit = float(test_fraction), int(seed), int(limit)

    def records(self) -> list[tuple[int, dict[str, Any] | str]]:
        """(line number, record or the reason the line is unusable)."""
        raise NotImplementedError

    @cached_property
    def rows(self) -> dict[str, Row]:
        out: dict[str, Row] = {}
        cols = self.columns
        records = self.records()
        self._check_text_column(records)
        for line, rec in records:
            if isinstance(rec, str):
                key = f"{self.unit}{line}"
                out[key] = Row(key, None, error=f"{self.path.name} {self.unit} {line}: {rec}")
                continue
            raw_id = rec.get(cols["id"])
            item_id = str(raw_id) if raw_id not in (None, "") else str(line)
            text = rec.get(cols["text"])
            error = None
            if cols["text"] not in rec:
                error = f"{self.path.name} {self.unit} {line}: no {cols['text']!r} column"
            elif not isinstance(text, str):
                error = f"{self.path.name} {self.unit} {line}: {cols['text']!r} is a {type(text).__name__}, not text"
            split_value = rec.get(cols["split"])
            split = SPLIT_NAMES.get(str(split_value).strip().lower()) if split_value not in (None, "") else None
            if split_value not in (None, "") and split is None:
                error = (
                    f"{self.path.name} {self.unit} {line}: split {split_value!r} is not one of {sorted(SPLIT_NAMES)}"
                )
            if item_id in out:
                error = f"{self.path.name} {self.unit} {line}: duplicate id {item_id!r}"
                item_id = f"{item_id}#{self.unit}{line}"
            label = rec.get(cols["label"])
            group = rec.get(cols["group"])
            out[item_id] = Row(
                item_id,
                text if isinstance(text, str) else None,
                None if label in (None, "") else label,
                split,
                None if group in (None, "") else str(group),
                error,
                line,
            )
        return out

    def _check_text_column(self, records: list[tuple[int, dict[str, Any] | str]]) -> None:
        """A text column no row has is the command's mistake (a misspelt ``-o text=``), refused before any work,
        not a failure per row."""
        dicts = [rec for _, rec in records if isinstance(rec, dict)]
        if dicts and not any(self.columns["text"] in rec for rec in dicts):
            self._no_text_column({str(k) for rec in dicts[:100] for k in rec})

    def _no_text_column(self, columns: set[str]) -> None:
        raise ValueError(
            f"{self.path}: no column {self.columns['text']!r} (its columns: {', '.join(sorted(columns)[:12])}); "
            "name the text column with -o text=COLUMN"
        )

    def items(self) -> list[Item]:
        rows = self.rows
        if not rows:
            raise ValueError(f"{self.path}: no rows")
        has_split = any(r.split for r in rows.values())
        fallback = (
            {} if has_split else stratified_split({r.id: r.label for r in rows.values()}, self.test_fraction, self.seed)
        )
        out = []
        for r in rows.values():
            digest = text_hash(r.text) if r.text is not None and r.error is None else text_hash(f"bad:{r.error}")
            out.append(
                Item(
                    id=r.id,
                    uri=f"{self.path}#{r.id}",
                    content_hash=digest,
                    labels={"label": r.label} if r.label is not None else {},
                    split=r.split if has_split else fallback.get(r.id),
                    group=r.group,
                )
            )
        return out

    def load(self, item: Item) -> Text:
        row = self.rows.get(item.id)
        if row is None:
            raise ItemError(f"{item.id}: no such row in {self.path}")
        if row.error:
            raise ItemError(f"{item.id}: {row.error}")
        return checked_text(row.text, f"{item.id} ({self.path.name} {self.unit} {row.line})", self.limit)


class CSVDataset(TableDataset):
    kind = "csv"

    def records(self) -> list[tuple[int, dict[str, Any] | str]]:
        csv.field_size_limit(max(csv.field_size_limit(), 4 * self.limit + 1))
        out: list[tuple[int, dict[str, Any] | str]] = []
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                for rec in reader:
                    out.append((reader.line_num, rec))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.path}: not UTF-8 CSV ({exc})") from None
        except csv.Error as exc:
            raise ValueError(f"{self.path}: not readable CSV ({exc})") from None
        return out


class JSONLDataset(TableDataset):
    kind = "jsonl"

    def records(self) -> list[tuple[int, dict[str, Any] | str]]:
        out: list[tuple[int, dict[str, Any] | str]] = []
        with open(self.path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append((n, "not valid UTF-8"))
                    continue
                except json.JSONDecodeError as exc:
                    out.append((n, f"not a JSON object ({exc.msg})"))
                    continue
                out.append((n, rec if isinstance(rec, dict) else f"a JSON {type(rec).__name__}, not an object"))
        return out


class ParquetDataset(TableDataset):
    kind = "parquet"
    unit = "row"

    def records(self) -> list[tuple[int, dict[str, Any] | str]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
            present = set(parquet.schema_arrow.names)
            if self.columns["text"] not in present:  # only the named columns are read: name the file's own
                self._no_text_column(present)
            wanted = [c for c in dict.fromkeys(self.columns.values()) if c in present]
            rows = [r for batch in parquet.iter_batches(columns=wanted) for r in batch.to_pylist()]
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{self.path}: not readable Parquet ({exc})") from None
        return list(enumerate(rows, 1))


def _folder(arg: str, chunks: str | None = None, window: Any = WINDOW, overlap: Any = OVERLAP, **options: Any):
    root = Path(arg).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"textfolder: {root} is not a directory")
    return windowed(TextFolder(root, **options), chunks, window, overlap)


def _table(cls):
    def factory(arg: str, chunks: str | None = None, window: Any = WINDOW, overlap: Any = OVERLAP, **options: Any):
        path = Path(arg).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{cls.kind}: {path} is not a file")
        return windowed(cls(path, **options), chunks, window, overlap)

    factory.__doc__ = cls.__doc__
    return factory


DATASETS.register("textfolder", _folder)
DATASETS.register("csv", _table(CSVDataset))
DATASETS.register("jsonl", _table(JSONLDataset))
DATASETS.register("parquet", _table(ParquetDataset))
