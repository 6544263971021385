"""``ucr:NAME`` or ``ucr:/folder/NAME``: UCR/UEA classification sets as items of one series each.

``ucr:GunPoint`` reads the copy aeon ships (ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand,
JapaneseVowels, OSULeaf, ...) or, for other names, lets aeon fetch the archive (needs a network).
``ucr:/data/UCR/Wine`` reads ``Wine_TRAIN.ts``/``Wine_TEST.ts`` or the archive's tab-separated
``Wine_TRAIN.tsv``/``Wine_TEST.tsv`` (label first, NaN padding for variable length).
Items are ``train/<i>`` and ``test/<i>``; the content hash is of the float32 (channels, time) array.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError, Series, array_sha256
from embedforge.registry.datasets import DATASETS

SPLITS = ("train", "test")
COMMENT = ("#", "%")
MIN_STEPS = 2  # one value is not a series: refused rather than padded into a vector


def _aeon_data_dir() -> Path:
    """The sets aeon ships, found without running ``aeon.datasets`` (its import pulls sklearn and scipy.stats:
    1.8 s of a command that only needs the folder's path)."""
    import importlib.util

    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("aeon is not installed: ucr:NAME needs it for the sets it ships")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@dataclass(frozen=True)
class Case:
    """One series of a split as read: its values and label, or why it cannot be used (naming file and line)."""

    values: np.ndarray | None
    label: str | None
    error: str | None = None
    where: str = ""  # file:line, for the item's uri


def _bad(path: Path, n: int, why: str) -> Case:
    return Case(None, None, f"{path.name} line {n}: {why}", f"{path}:{n}")


def read_tsv(path: Path) -> list[Case]:
    """The UCR archive's .tsv: one series per line, label first, "NaN" pads shorter series."""
    cases = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\n").split("\t")
        try:
            values = np.array([float(v) for v in parts[1:]], dtype=np.float32)
        except ValueError as exc:
            cases.append(_bad(path, n, f"not a UCR tsv row ({exc})"))
            continue
        cases.append(Case(values[None, :], _label(parts[0]), where=f"{path}:{n}"))
    return cases


def read_ts(path: Path) -> list[Case]:
    """A .ts file (sktime/aeon format) case by case: a bad line fails alone; an unusable file raises ValueError."""
    lines = path.read_text(errors="replace").splitlines()
    header, start = _ts_header(lines, path)
    labelled = header.get("classlabel", "false").split()[0] == "true" or header.get("targetlabel") == "true"
    dims = int(header["dimensions"]) if header.get("dimensions", "").isdigit() else None
    cases = []
    for n, line in enumerate(lines[start:], start + 1):
        if line.strip() and not line.lstrip().startswith(COMMENT):
            case = _ts_case(line.strip(), labelled, path, n)
            dims = dims if dims is not None or case.values is None else case.values.shape[0]
            if case.values is not None and case.values.shape[0] != dims:
                case = _bad(path, n, f"{case.values.shape[0]} dimensions, expected {dims}")
            cases.append(case)
    if not cases:
        raise ValueError(f"{path}: no series after @data")
    return cases


def _ts_header(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """The @key value pairs and the index of the first data line; a file without @data is unusable."""
    if not any(line.strip() for line in lines):
        raise ValueError(f"{path}: empty .ts file")
    header: dict[str, str] = {}
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith(COMMENT):
            continue
        if not text.startswith("@"):
            raise ValueError(f"{path} line {i + 1}: malformed .ts header (data before @data: {text[:40]!r})")
        key, _, value = text[1:].partition(" ")
        if key.lower() == "data":
            if header.get("timestamps", "false") == "true":
                raise ValueError(f"{path}: .ts files with @timeStamps true are not supported")
            return header, i + 1
        header[key.lower()] = value.strip().lower()
    raise ValueError(f"{path}: malformed .ts header (no @data line)")


def _ts_case(line: str, labelled: bool, path: Path, n: int) -> Case:
    fields = line.split(":")
    label = _label(fields.pop().lower()) if labelled and len(fields) > 1 else None  # aeon lower-cases labels
    if labelled and label is None:
        return _bad(path, n, "no label after the values")
    try:
        rows = [np.array([float(v) for v in f.replace("?", "NaN").split(",")], dtype=np.float32) for f in fields]
    except ValueError as exc:
        return _bad(path, n, f"not a number ({exc})")
    width = max(len(r) for r in rows)
    values = np.full((len(rows), width), np.nan, dtype=np.float32)
    for k, row in enumerate(rows):
        values[k, : len(row)] = row
    return Case(values, label if labelled else "", where=f"{path}:{n}")


def _label(text: str) -> str:
    """ "1", "1.0" and " 1" are one class; other labels stay as written."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def read_cases(source: str, split: str) -> list[Case]:
    """Every case of one split, from a folder, a shipped set or (online) the archive."""
    path = Path(source)
    if path.is_dir() or source.startswith(("/", ".", "~")):
        return _read_folder(path.expanduser(), split)
    shipped = _aeon_data_dir() / source
    if shipped.is_dir():
        return _read_folder(shipped, split)
    from aeon.datasets import load_classification  # downloads the archive when online

    X, y = load_classification(source, split=split)
    return [Case(np.asarray(x, dtype=np.float32), _label(str(v))) for x, v in zip(X, y)]


def read_split(source: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """Series (each channels x time) and string labels of one split's usable cases."""
    good = [(c.values, c.label or "") for c in read_cases(source, split) if c.values is not None]
    return [v for v, _ in good], [label for _, label in good]


def _read_folder(folder: Path, split: str) -> list[Case]:
    name = folder.name
    ts, tsv = folder / f"{name}_{split.upper()}.ts", folder / f"{name}_{split.upper()}.tsv"
    if ts.is_file():
        return read_ts(ts)
    if tsv.is_file():
        return read_tsv(tsv)
    raise FileNotFoundError(f"no {ts.name} or {tsv.name} in {folder}")


class UCRDataset(Dataset):
    """One UCR/UEA classification set; both splits are read once and kept in memory.

    A bad case (a text cell, a wrong number of dimensions) is an item that fails at load naming its file and
    line; an unusable split file (empty, malformed header) is one item ``<split>/<file>`` that fails the same way.
    """

    modality = "timeseries"

    def __init__(self, source: str) -> None:
        if not source:
            raise ValueError("ucr needs a dataset name or folder, e.g. ucr:GunPoint or ucr:/data/UCR/Wine")
        self.source = source

    @cached_property
    def _data(self) -> dict[str, list[Case] | str]:
        out: dict[str, list[Case] | str] = {}
        missing: list[FileNotFoundError] = []
        for split in SPLITS:
            try:
                out[split] = read_cases(self.source, split)
            except (ValueError, OSError) as exc:
                if isinstance(exc, FileNotFoundError):
                    missing.append(exc)
                out[split] = str(exc)
        if len(missing) == len(SPLITS):  # no set here at all: an error at the edge, before any work
            raise missing[0]
        return out  # one split file missing: an item of that split that fails naming it; the other is embedded

    def items(self) -> list[Item]:
        out = []
        for split in SPLITS:
            cases = self._data[split]
            if isinstance(cases, str):
                out.append(self._file_failure(split, cases))
                continue
            for i, case in enumerate(cases):
                out.append(
                    Item(
                        id=f"{split}/{i}",
                        uri=f"ucr:{self.source}#{split}/{i}",
                        content_hash=_case_hash(case),
                        labels={"label": case.label} if case.values is not None else {},
                        split=split,
                    )
                )
        return out

    def _file_failure(self, split: str, error: str) -> Item:
        name = f"{Path(self.source).name}_{split.upper()}"
        digest = hashlib.sha256(error.encode()).hexdigest()
        return Item(id=f"{split}/{name}", uri=f"ucr:{self.source}#{split}", content_hash=digest, split=split)

    def load(self, item: Item) -> Series:
        split, _, index = item.id.partition("/")
        cases = self._data.get(split)
        if isinstance(cases, str):
            raise ItemError(f"{item.id}: {cases}")
        try:
            case = cases[int(index)] if cases is not None else None
        except (ValueError, IndexError):
            case = None
        if case is None:
            raise ItemError(f"{item.id}: no such item in ucr:{self.source}")
        if case.values is None:
            raise ItemError(f"{item.id}: {case.error}")
        steps = int(np.flatnonzero(~np.isnan(case.values).all(axis=0)).max(initial=-1)) + 1
        if steps < MIN_STEPS:
            raise ItemError(f"{item.id} ({case.where}): a series of {steps} step(s); at least {MIN_STEPS} are needed")
        return Series(case.values)


def _case_hash(case: Case) -> str:
    if case.values is not None:
        return array_sha256(case.values)
    return hashlib.sha256(f"bad:{case.where}:{case.error}".encode()).hexdigest()


DATASETS.register("ucr", lambda arg, **opts: UCRDataset(arg, **opts))
