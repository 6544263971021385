"""Cardiac dataset adapters: WFDB folders, ECG arrays (CSV/.npy) and neurokit2-simulated ECG/PPG.

Every adapter cuts its records into 10 s windows at the record's own rate (ids
``<record>/<window>``, uri ``<file>#<start>-<stop>``) and returns raw-rate ``CardiacSeries``
windows with lead names; the encoders' ``preprocess`` resamples, cleans and lays them out.
Options arrive as strings from flow parameters and are coerced here.
"""

from __future__ import annotations

import csv
import hashlib
import json
from abc import abstractmethod
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.cardiac.signal import (
    WINDOW_SECONDS,
    CardiacSeries,
    canonical_lead,
    sample_leads,
    window_bounds,
)
from embedforge.modalities.stamps import file_sha256_memo
from embedforge.registry.datasets import DATASETS


@dataclass(frozen=True)
class Record:
    """One recording as scanned: where it is, how long, at what rate, and a hash of its files."""

    name: str
    uri: str
    n_samples: int
    sample_rate: float
    digest: str


class WindowedRecords(Dataset):
    """Shared windowing, labels and item building; subclasses scan and read their own format."""

    modality = "cardiac"

    def __init__(
        self,
        window_seconds: Any = WINDOW_SECONDS,
        stride_seconds: Any = None,
        remainder: str = "drop",
        labels: str | None = None,
    ) -> None:
        self.window_seconds = float(window_seconds)
        self.stride_seconds = float(stride_seconds) if stride_seconds not in (None, "") else None
        self.remainder = remainder
        self.label_table = read_label_csv(labels) if labels else {}

    @abstractmethod
    def records(self) -> list[Record]:
        """Scan the source."""

    @abstractmethod
    def read(self, item: Item, start: int, stop: int) -> CardiacSeries:
        """Samples [start, stop) of the item's record; ItemError naming the item on failure."""

    def items(self) -> list[Item]:
        return [it for rec in self.records() for it in self.record_items(rec)]

    def record_items(self, rec: Record) -> list[Item]:
        """The record's windows as items, each hashed from the record's files and its bounds."""
        size = max(1, round(self.window_seconds * rec.sample_rate))
        stride = round(self.stride_seconds * rec.sample_rate) if self.stride_seconds else None
        row = dict(self.label_table.get(rec.name, {}))
        split, group = row.pop("split", None), row.pop("group", None) or rec.name  # a record is one subject
        out = []
        for k, (start, stop) in enumerate(window_bounds(rec.n_samples, size, stride, self.remainder)):
            digest = hashlib.sha256(f"{rec.digest}:{start}:{stop}".encode()).hexdigest()
            out.append(
                Item(
                    id=f"{rec.name}/{k}",
                    uri=f"{rec.uri}#{start}-{stop}",
                    content_hash=digest,
                    labels=dict(row),
                    split=split,
                    group=group,
                )
            )
        return out

    def load(self, item: Item) -> CardiacSeries:
        start, stop = window_of(item)
        sample = self.read(item, start, stop)
        if sample.values.shape[-1] == 0:
            raise ItemError(f"{item.id}: zero-length signal ({item.uri})")
        return sample


def window_of(item: Item) -> tuple[int, int]:
    """Parse ``#start-stop`` off an item's uri."""
    _, _, frag = item.uri.rpartition("#")
    try:
        start, stop = (int(v) for v in frag.split("-"))
    except ValueError:
        raise ItemError(f"{item.id}: uri {item.uri!r} carries no #start-stop window") from None
    return start, stop


def read_label_csv(path: str | Path) -> dict[str, dict[str, Any]]:
    """``record`` (or first) column -> the row's other columns, numbers parsed; ``split``/``group`` kept as text.

    ``group`` (e.g. a patient id) defaults to the record name; ``split`` to none.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    key = "record" if "record" in rows[0] else next(iter(rows[0]))
    return {r[key]: {k: _parse(v, k) for k, v in r.items() if k != key and v not in (None, "")} for r in rows}


def _parse(value: str, column: str) -> Any:
    if column in ("split", "group"):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _files_digest(paths: list[Path]) -> str:
    """Hash of the named files' bytes; a missing file contributes its name, so it can fail at load."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(_file_digest(p).encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    """The file's hash, or why it cannot be read (missing, a FIFO, a device): the record then fails at load."""
    if not path.exists():
        return "missing"
    try:
        return file_sha256_memo(path)
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"


class WFDBFolder(WindowedRecords):
    """Every ``*.hea`` record under a folder (PhysioNet layout), read with ``wfdb``."""

    def __init__(self, root: str, **options: Any) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"WFDB folder {self.root} does not exist")

    def records(self) -> list[Record]:
        return [self._scan(h) for h in sorted(self.root.rglob("*.hea"))]

    def _scan(self, header: Path) -> Record:
        """A record from its header; an unreadable header yields a zero-length record that fails at load."""
        import wfdb

        name = header.relative_to(self.root).with_suffix("").as_posix()
        try:
            h = wfdb.rdheader(str(header.with_suffix("")))
            files = [header, *(header.parent / f for f in dict.fromkeys(h.file_name or []))]
            return Record(name, str(header), int(h.sig_len or 0), float(h.fs), _files_digest(files))
        except Exception:  # an unreadable header still lists the record: it fails with the reason at load
            return Record(name, str(header), 0, 1.0, _files_digest([header]))

    def read(self, item: Item, start: int, stop: int) -> CardiacSeries:
        import wfdb

        header = Path(item.uri.rpartition("#")[0])
        record = header.with_suffix("")
        try:
            h = wfdb.rdheader(str(record))
        except Exception as exc:  # wfdb raises many types: the item's error names the header
            raise ItemError(f"{item.id}: unreadable WFDB header {header} ({exc})") from None
        for f in dict.fromkeys(h.file_name or []):
            if not (header.parent / f).exists():
                raise ItemError(f"{item.id}: WFDB record {record.name} is missing its signal file {f}")
            if not (header.parent / f).is_file():  # a FIFO or a device would block the reader forever
                raise ItemError(f"{item.id}: WFDB signal file {f} is not a regular file")
        try:
            r = wfdb.rdrecord(str(record), sampfrom=start, sampto=stop, physical=True)
        except Exception as exc:  # wfdb raises many types: the item's error names the record
            raise ItemError(f"{item.id}: cannot read WFDB record {record.name} ({exc})") from None
        return CardiacSeries(np.asarray(r.p_signal, dtype=np.float32).T, float(r.fs), tuple(r.sig_name))


class ArrayFiles(WindowedRecords):
    """ECG arrays in ``.npy`` or ``.csv`` files (one file, or every such file under a folder)."""

    def __init__(
        self, path: str, sample_rate: Any = None, leads: Any = None, layout: str = "auto", **options: Any
    ) -> None:
        super().__init__(**options)
        if sample_rate in (None, ""):
            raise ValueError("ecgarray needs sample_rate=<Hz>")
        self.path, self.sample_rate, self.layout = Path(path).expanduser(), float(sample_rate), layout
        self.leads = tuple(leads.split(",")) if isinstance(leads, str) and leads else tuple(leads or ())
        if not self.path.exists():
            raise FileNotFoundError(f"no ECG array file or folder at {self.path}")

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.suffix.lower() in (".npy", ".csv"))

    def records(self) -> list[Record]:
        out = []
        for f in self.files():
            name = f.stem if f == self.path else f.relative_to(self.path).with_suffix("").as_posix()
            try:
                n = read_array(str(f), self.layout)[0].shape[1]
            except Exception:
                n = 0  # fails with the reason at load
            out.append(Record(name, str(f), n, self.sample_rate, _files_digest([f])))
        return out

    def read(self, item: Item, start: int, stop: int) -> CardiacSeries:
        path = item.uri.rpartition("#")[0]
        try:
            values, names = read_array(path, self.layout)
        except Exception as exc:  # the array readers raise many types: the item's error names the file
            raise ItemError(f"{item.id}: cannot read ECG array {path} ({exc})") from None
        series = CardiacSeries(
            np.asarray(values[:, start:stop], dtype=np.float32), self.sample_rate, tuple(self.leads or names or ())
        )
        return replace(series, leads=sample_leads(series, item.id))  # default names, one per channel


def read_array(path: str, layout: str = "auto") -> tuple[np.ndarray, tuple[str, ...]]:
    """Channels x time float32 and the lead names a CSV header gives (lead columns only)."""
    st = Path(path).stat()
    return _read_array(path, layout, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _read_array(path: str, layout: str, mtime_ns: int, size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Cached per file version, so windows of one file do not re-parse it."""
    names: tuple[str, ...] = ()
    if path.lower().endswith(".npy"):
        values = np.load(path, allow_pickle=False)
    else:
        values, names = _read_csv(path)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        return values[None, :], names
    if values.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got shape {values.shape}")
    time_first = layout == "time_first" or (layout == "auto" and values.shape[0] > values.shape[1])
    return (values.T if time_first else values), names


def _read_csv(path: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """A CSV with one column per lead; with a header, only columns named like leads are kept."""
    import pandas as pd

    frame = pd.read_csv(path)
    named = [c for c in frame.columns if canonical_lead(c) is not None]
    if named:
        return frame[named].to_numpy(dtype=np.float32), tuple(named)
    return pd.read_csv(path, header=None).to_numpy(dtype=np.float32), ()


class SimulatedECG(WindowedRecords):
    """neurokit2-simulated lead-II ECG (and PPG) with a drawn heart rate per record: a vitals task."""

    def __init__(
        self,
        n_records: Any = "",
        seconds: Any = WINDOW_SECONDS,
        sample_rate: Any = 250,
        hr_min: Any = 50,
        hr_max: Any = 120,
        noise: Any = 0.05,
        ppg: Any = True,
        seed: Any = 0,
        test_fraction: Any = 0.3,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.n = int(n_records or 40)
        self.seconds, self.rate, self.noise = float(seconds), float(sample_rate), float(noise)
        self.ppg = str(ppg).lower() not in ("0", "false", "no", "")
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.heart_rates = rng.uniform(float(hr_min), float(hr_max), self.n)
        order = rng.permutation(self.n)
        self.test = set(order[: round(float(test_fraction) * self.n)].tolist())
        self._cache: dict[int, np.ndarray] = {}

    def params(self, i: int) -> dict[str, Any]:
        """Everything the record is generated from (its identity for the content hash)."""
        import neurokit2 as nk

        return {
            "i": i,
            "hr": round(float(self.heart_rates[i]), 6),
            "seconds": self.seconds,
            "rate": self.rate,
            "noise": self.noise,
            "ppg": self.ppg,
            "seed": self.seed,
            "neurokit2": nk.__version__,
        }

    def records(self) -> list[Record]:
        return [
            Record(
                f"sim{i:04d}",
                f"ecgsim:{self.seed}/{i}",
                round(self.seconds * self.rate),
                self.rate,
                hashlib.sha256(json.dumps(self.params(i), sort_keys=True).encode()).hexdigest(),
            )
            for i in range(self.n)
        ]

    def record_items(self, rec: Record) -> list[Item]:
        i = int(rec.name[3:])
        labels = {"heart_rate": round(float(self.heart_rates[i]), 6)}
        split = "test" if i in self.test else "train"
        return [Item(it.id, it.uri, it.content_hash, labels, split, rec.name) for it in super().record_items(rec)]

    def read(self, item: Item, start: int, stop: int) -> CardiacSeries:
        values = self.simulate(int(item.id.split("/")[0][3:]))
        return CardiacSeries(values[:, start:stop], self.rate, ("II", "PPG") if self.ppg else ("II",))

    def simulate(self, i: int) -> np.ndarray:
        """Channels x time float32 for record ``i``; the same every time for the same seed."""
        if i not in self._cache:
            self._cache = {i: self._generate(i)}  # windows of one record arrive together
        return self._cache[i]

    def _generate(self, i: int) -> np.ndarray:
        import neurokit2 as nk

        hr, n = float(self.heart_rates[i]), round(self.seconds * self.rate)
        state = self.seed * 1_000_003 + i
        ecg = nk.ecg_simulate(
            duration=self.seconds, sampling_rate=self.rate, heart_rate=hr, noise=self.noise, random_state=state
        )[:n]
        if not self.ppg:
            return np.asarray(ecg, dtype=np.float32)[None]
        ppg = nk.ppg_simulate(duration=self.seconds, sampling_rate=self.rate, heart_rate=hr, random_state=state + 1)[:n]
        return np.stack([ecg, ppg]).astype(np.float32)


DATASETS.register("wfdb", WFDBFolder)
DATASETS.register("ecgarray", ArrayFiles)
DATASETS.register("ecgsim", SimulatedECG)
