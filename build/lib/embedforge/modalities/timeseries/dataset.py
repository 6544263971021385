"""``ucr:NAME`` or ``ucr:/folder/NAME``: UCR/UEA classification sets as items of one series each.

``ucr:GunPoint`` reads the copy aeon ships (ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand,
JapaneseVowels, OSULeaf, ...) or, for other names, lets aeon fetch the archive (needs a network).
``ucr:/data/UCR/Wine`` reads ``Wine_TRAIN.ts``/``Wine_TEST.ts`` or the archive's tab-separated
``Wine_TRAIN.tsv``/``Wine_TEST.tsv`` (label first, NaN padding for variable length).
Items are ``train/<i>`` and ``test/<i>``; the content hash is of the float32 (channels, time) array.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError, Series, array_sha256
from embedforge.registry.datasets import DATASETS

SPLITS = ("train", "test")


def _aeon_data_dir() -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__file__).parent / "data"


def read_tsv(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """The UCR archive's .tsv: one series per line, label first, "NaN" pads shorter series."""
    series, labels = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\n").split("\t")
        try:
            values = np.array([float(v) for v in parts[1:]], dtype=np.float32)
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not a UCR tsv row ({exc})") from exc
        series.append(values[None, :])
        labels.append(_label(parts[0]))
    return series, labels


def _label(text: str) -> str:
    """ "1", "1.0" and " 1" are one class; other labels stay as written."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def read_split(source: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """Series (each channels x time) and string labels of one split from a folder or a name."""
    path = Path(source)
    if path.is_dir() or source.startswith(("/", ".", "~")):
        return _read_folder(path.expanduser(), split)
    shipped = _aeon_data_dir() / source
    if shipped.is_dir():
        return _read_folder(shipped, split)
    from aeon.datasets import load_classification  # downloads the archive when online

    X, y = load_classification(source, split=split)
    return [np.asarray(x, dtype=np.float32) for x in X], [_label(str(v)) for v in y]


def _read_folder(folder: Path, split: str) -> tuple[list[np.ndarray], list[str]]:
    name = folder.name
    ts, tsv = folder / f"{name}_{split.upper()}.ts", folder / f"{name}_{split.upper()}.tsv"
    if ts.is_file():
        from aeon.datasets import load_from_ts_file

        X, y = load_from_ts_file(str(ts))
        return [np.asarray(x, dtype=np.float32) for x in X], [_label(str(v)) for v in y]
    if tsv.is_file():
        return read_tsv(tsv)
    raise FileNotFoundError(f"no {ts.name} or {tsv.name} in {folder}")


class UCRDataset(Dataset):
    """One UCR/UEA classification set; both splits are read once and kept in memory."""

    modality = "timeseries"

    def __init__(self, source: str) -> None:
        if not source:
            raise ValueError("ucr needs a dataset name or folder, e.g. ucr:GunPoint or ucr:/data/UCR/Wine")
        self.source = source

    @cached_property
    def _data(self) -> dict[str, tuple[list[np.ndarray], list[str]]]:
        return {split: read_split(self.source, split) for split in SPLITS}

    def items(self) -> list[Item]:
        out = []
        for split in SPLITS:
            series, labels = self._data[split]
            for i, (x, y) in enumerate(zip(series, labels)):
                out.append(
                    Item(
                        id=f"{split}/{i}",
                        uri=f"ucr:{self.source}#{split}/{i}",
                        content_hash=array_sha256(x),
                        labels={"label": y},
                        split=split,
                    )
                )
        return out

    def load(self, item: Item) -> Series:
        split, _, index = item.id.partition("/")
        try:
            return Series(self._data[split][0][int(index)])
        except (KeyError, ValueError, IndexError) as exc:
            raise ItemError(f"{item.id}: no such item in ucr:{self.source}") from exc


DATASETS.register("ucr", lambda arg, **opts: UCRDataset(arg, **opts))
