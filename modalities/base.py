"""The contracts every modality implements: items, samples, encoders and dataset adapters."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


class ItemError(Exception):
    """A single item could not be read or encoded; the message names the item."""


class BadRequest(ValueError):
    """A request a served model cannot answer; served as HTTP 400 with this message.

    Raised by the pyfunc adapter (``embedforge.tasks.pyfunc``) and by a modality's own served input format
    (a slide's bag of tile vectors), so both sides share one type.
    """


SPLITS: tuple[str, ...] = ("train", "test", "val")  # an Item's split is one of these, or None (not assigned)


@dataclass(frozen=True)
class Item:
    """One unit of a dataset: a file, a series or a window, with its labels."""

    id: str  # stable within a dataset: relative path, or split/index
    uri: str  # where the raw content lives (file path, or dataset-specific locator)
    content_hash: str  # sha256 of the raw content: the cache key
    labels: dict[str, Any] = field(default_factory=dict)
    split: str | None = None  # one of SPLITS or None: heads fit on "train", score on "test", skip "val"
    group: str | None = None  # speaker, subject, slide, patient ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(**d)


@dataclass(frozen=True)
class Audio:
    """Decoded audio: channels x samples, float32 in [-1, 1]."""

    waveform: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class Series:
    """A (possibly multivariate) series: channels x time, NaN allowed for padding."""

    values: np.ndarray
    sample_rate: float | None = None


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder's identity and preprocessing contract, known without loading weights."""

    name: str  # "speech/ge2e"
    dim: int
    input: dict[str, Any]  # e.g. {"sample_rate": 16000, "channels": 1}
    weights: str  # default source: hub id, package file, or "none"
    description: str = ""
    license: str = ""
    reference: str = ""  # the reference implementation its vectors are checked against (tests/reference/)
    recipe: str = ""  # version of the forward recipe; a change makes a new identity even with the same weights

    @property
    def modality(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def fits_on_data(self) -> bool:
        """Fit on a dataset's train split (MiniRocket, TF-IDF): its weights are that dataset, ``input["fit"]``."""
        return "fit" in self.input

    @property
    def channels(self) -> int | None:
        """A channel count the encoder is built for (a recipe: multichannel data asks for its own), else None."""
        value = self.input.get("channels")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class Encoder(ABC):
    """A frozen model turning preprocessed samples into fixed-size float32 vectors."""

    spec: EncoderSpec
    weights_source: str  # what was actually loaded (hub id, directory or file)
    _fingerprint: str | None = None  # computed once, on first use
    # True where encode() sorts its inputs by length and batches them itself (padding bounded): a shard then
    # hands it all its prepared items at once, as sentence-transformers sorts a whole encode() call.
    sorts_by_length: bool = False
    unit_name: str = ""  # what input_units counts ("tokens" for text): the run summary's throughput unit

    def input_units(self, inputs: list[Any]) -> int:
        """Units of work these prepared inputs hold (word pieces for text), for tokens/s in the run summary;
        0 where the encoder does not count them."""
        return 0

    @abstractmethod
    def preprocess(self, sample: Any, item_id: str) -> Any:
        """Bring one raw sample to the model's input contract; raise ItemError on bad input."""

    @abstractmethod
    def encode(self, inputs: list[Any]) -> np.ndarray:
        """Embed a batch; the result for one input must not depend on its batch mates."""

    @property
    def fingerprint(self) -> str:
        """A short hash of the weights, so tables and heads know exactly which model made them."""
        cached = self._fingerprint
        if cached is None:
            cached = self._compute_fingerprint()
            self._fingerprint = cached
        return cached

    def _compute_fingerprint(self) -> str:
        """Weights hash, mixed with the recipe version when the spec names one (same weights, other model)."""
        module = getattr(self, "model", None)
        if module is None or not hasattr(module, "state_dict"):
            weights = hashlib.sha256(json.dumps(self.spec.input, sort_keys=True).encode()).hexdigest()[:12]
        else:
            weights = state_dict_fingerprint(module.state_dict())
        if not self.spec.recipe:
            return weights
        return hashlib.sha256(f"{weights}|recipe={self.spec.recipe}".encode()).hexdigest()[:12]

    def identity(self) -> dict[str, Any]:
        """What a vector table and a trained head record about the encoder that made their inputs."""
        return {
            "name": self.spec.name,
            "dim": self.spec.dim,
            "fingerprint": self.fingerprint,
            "weights": self.weights_source,
            "input": self.spec.input,
            **({"recipe": self.spec.recipe} if self.spec.recipe else {}),
        }


def state_dict_fingerprint(state: dict[str, Any]) -> str:
    """Hash every tensor's name, shape and bytes in a fixed order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        arr = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.asarray(t)
        h.update(name.encode())
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


@runtime_checkable
class TextTower(Protocol):
    """An encoder that also embeds sentences into its own space: ``search --text``, zero-shot heads (CLIP's text
    tower; a text encoder's query side)."""

    def encode_text(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class QuerySide(Protocol):
    """An encoder that prepares a query differently from a stored document (E5's ``query: `` prompt)."""

    def preprocess_query(self, sample: Any, item_id: str) -> Any: ...


@runtime_checkable
class BagScorer(Protocol):
    """A slide-level (MIL) head: it groups rows into bags itself and scores bags, not rows (the leaderboard asks
    it to)."""

    def score_bags(self, *, feats: Any, X: np.ndarray, label: str) -> Any: ...


@runtime_checkable
class CandidateLabels(Protocol):
    """A head that scores candidate labels sent with a request instead of its training classes (zero-shot)."""

    def with_labels(self, labels: list[str]) -> Any: ...


class Dataset(ABC):
    """Reads a dataset in its native layout into items, and items into raw samples."""

    modality: str
    shard_by: str | None = None  # "group": a group's items share one shard, stored together or not at all (a slide)
    prefetch: int = 0  # samples read ahead of the encoder in a thread (bounded memory); 0: read in step

    @abstractmethod
    def items(self) -> list[Item]:
        """Scan the source; cheap enough to run on every flow (hashes are of file bytes)."""

    @abstractmethod
    def load(self, item: Item) -> Any:
        """Return the raw sample (Audio, Series, image ...); raise ItemError naming the item."""


class NotARegularFile(OSError):
    """A FIFO, a device (a link to ``/dev/zero``), a socket: reading it could block or never end."""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The file's sha256; only a regular file is read (opened non-blocking and checked before the first byte)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{path}: not a regular file ({_kind(mode)}); only regular files are read")
        h = hashlib.sha256()
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a file"


def array_sha256(values: np.ndarray) -> str:
    arr = np.ascontiguousarray(values)
    h = hashlib.sha256(str((arr.dtype.str, arr.shape)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()
