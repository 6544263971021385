"""``timeseries/minirocket``: MiniRocket (aeon), the no-weights baseline, fit on a training split.

Design: MiniRocket has no pre-trained weights; its dilations and biases are fit on data (the
biases are quantiles of convolution outputs on training series). So here the *weights* of the
encoder are a training set: ``weights`` names a dataset (``ucr:GunPoint``, ``ucr:/data/UCR/Wine``)
and the encoder is fit on that dataset's ``split == "train"`` items with a fixed seed (0).

- Identity: ``weights_source`` is ``fit:<dataset ref>#train``; the fingerprint hashes the fitted
  parameters together with the sorted (item id, content hash) list of the training items. The
  store already keys tables by registry name + weights string, and refuses a write whose
  fingerprint differs, so vectors from transforms fit on different (or changed) training data
  can never share a table.
- Fitting only on train items keeps test items out of the transform, as in the MiniRocket paper.
- ``weights=None`` is a configuration error (there is nothing sensible to fit on).
- Building the encoder fits it: the embed flow's per-process encoder cache fits once per worker;
  the fit is deterministic, so every worker gets the same fingerprint.

Variable-length series are gap-filled and linearly resized to the longest training length
(at least 9 steps, MiniRocket's kernel length). Multivariate series use MiniRocket's own
multivariate kernels (random channel combinations), so the dimension stays 9,996.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, Item, ItemError, Series
from embedforge.modalities.timeseries.series import as_channels, fill_nan, resample
from embedforge.modalities.timeseries.specs import MINIROCKET
from embedforge.registry.lazy_import import defer_package_init

log = logging.getLogger(__name__)

MIN_LENGTH = 9
CONVOLUTION = "aeon.transformations.collection.convolution_based"


def train_hash(items: list[Item]) -> str:
    """Order-free hash of which training items (and which content) fit the transform."""
    h = hashlib.sha256()
    for it in sorted(items, key=lambda it: it.id):
        h.update(f"{it.id}\0{it.content_hash}\n".encode())
    return h.hexdigest()


class MiniRocketEncoder(Encoder):
    """A MiniRocket transform fit on training series; vectors are its 9,996 PPV features."""

    def __init__(self, n_kernels: int = 10000, seed: int = 0) -> None:
        self.n_kernels, self.seed = n_kernels, seed
        self.transform: Any = None  # aeon's fitted MiniRocket
        self.spec = MINIROCKET
        self.weights_source = "unfit"
        self._data_hash = ""

    @property
    def dim(self) -> int:
        return self.spec.dim

    def fit(self, series: list[Series | np.ndarray], source: str, data_hash: str) -> MiniRocketEncoder:
        """Fit on training series; ``source``/``data_hash`` say which data, for identity."""
        MiniRocket = aeon_minirocket()
        if not series:
            raise ValueError(f"{source}: no training series to fit MiniRocket on")
        arrays = [fill_nan(as_channels(s, f"{source} train[{i}]")) for i, s in enumerate(series)]
        self.channels = arrays[0].shape[0]
        self.length = max(MIN_LENGTH, max(a.shape[1] for a in arrays))
        X = np.stack([self._shape(a, f"{source} train[{i}]") for i, a in enumerate(arrays)])
        self.transform = MiniRocket(n_kernels=self.n_kernels, random_state=self.seed, n_jobs=1).fit(X)
        dim = int(sum(self.transform.parameters[3]) * 84)
        self.spec = replace(
            MINIROCKET,
            dim=dim,
            input={
                **MINIROCKET.input,
                "n_kernels": self.n_kernels,
                "seed": self.seed,
                "length": self.length,
                "channels": self.channels,
            },
        )
        self.weights_source, self._data_hash = f"fit:{source}#train", data_hash
        self._fingerprint = None
        return self

    def _shape(self, x: np.ndarray, item_id: str) -> np.ndarray:
        if x.shape[0] != self.channels:
            raise ItemError(f"{item_id}: {x.shape[0]} channel(s); MiniRocket was fit on {self.channels}")
        return x if x.shape[1] == self.length else resample(x, self.length)

    def _compute_fingerprint(self) -> str:
        if self.transform is None:
            raise RuntimeError("MiniRocket is not fit: build it with weights='<dataset ref>'")
        h = hashlib.sha256(self._data_hash.encode())
        for part in self.transform.parameters:
            h.update(np.ascontiguousarray(part).tobytes())
        return h.hexdigest()[:12]

    def preprocess(self, sample: Series, item_id: str) -> np.ndarray:
        if self.transform is None:
            raise RuntimeError("MiniRocket is not fit: build it with weights='<dataset ref>'")
        return self._shape(fill_nan(as_channels(sample, item_id)), item_id).astype(np.float32)

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self.transform.transform(np.stack(inputs)), dtype=np.float32)


def aeon_minirocket() -> type:
    """aeon's MiniRocket class, imported without its package's ``__init__``: that imports every convolution
    transform, and Hydra's module imports torch (~1.3 s of a ~3.8 s import here), which MiniRocket never uses."""
    defer_package_init(CONVOLUTION)
    from aeon.transformations.collection.convolution_based._minirocket import MiniRocket

    return MiniRocket


def fit_on_dataset(ref: str, n_kernels: int = 10000, seed: int = 0) -> MiniRocketEncoder:
    """Open ``ref`` through the dataset registry (or take the adapter this process's plan just opened and read)
    and fit on its train items."""
    from embedforge.registry.cache import planned_dataset
    from embedforge.registry.datasets import open_dataset

    ds = planned_dataset(ref) or open_dataset(ref)
    train = [it for it in ds.items() if it.split == "train"]
    if not train:
        raise ValueError(f"{ref} has no items with split 'train' to fit MiniRocket on")
    good, dropped = [], []
    series: list[Series | np.ndarray] = []
    for it in train:  # one unreadable or all-NaN training case is dropped and named, never the whole fit
        try:
            series.append(fill_nan(as_channels(ds.load(it), it.id)))
            good.append(it)
        except ItemError as exc:
            dropped.append(str(exc))
    if dropped:
        log.warning("%s: MiniRocket fit on %d of %d training items; dropped %d: %s", ref, len(good), len(train),
                    len(dropped), "; ".join(dropped[:5]))  # fmt: skip
    if not good:
        raise ValueError(f"{ref}: no readable training item to fit MiniRocket on ({'; '.join(dropped[:3])})")
    return MiniRocketEncoder(n_kernels, seed).fit(series, ref, train_hash(good))


def build(weights: str | None = None, device: str = "cpu", **options: Any) -> MiniRocketEncoder:
    """``weights`` is the dataset whose train split fits the transform (device is ignored: CPU numba)."""
    if not weights:
        raise ValueError(
            "timeseries/minirocket has no pre-trained weights: pass the dataset whose train "
            "split fits it as weights, e.g. weights='ucr:GunPoint'"
        )
    return fit_on_dataset(weights, **options)
