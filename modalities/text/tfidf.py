"""``text/tfidf-svd``: TF-IDF + truncated SVD (LSA), the no-weights baseline, fit on a training split.

As ``timeseries/minirocket``: the *weights* are a training set. ``weights`` names a dataset
(``textfolder:/data/news``, ``csv:/data/reviews.csv``) and the transform is fit on that dataset's
``split == "train"`` items that load (a bad item is left out of the fit), with a fixed seed.

- Identity: ``weights_source`` is ``fit:<dataset ref>#train``; the fingerprint hashes the fitted vocabulary, IDF
  weights and SVD components with the sorted (item id, content hash) list of the training items, so vectors of
  transforms fit on other (or changed) training data never share a table.
- Vectors: ``Normalizer().transform(svd.transform(tfidf.transform([text])))``, zero-padded to ``components``
  when the training set's rank is lower (``input["components_fitted"]`` says how many are real).
- ``weights=None`` is a configuration error (there is nothing to fit on).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, Item, ItemError
from embedforge.modalities.text.sample import Text
from embedforge.modalities.text.specs import TFIDF_SVD

COMPONENTS = 256
MAX_FEATURES = 50000


def train_hash(items: list[Item]) -> str:
    """Order-free hash of which training items (and which content) fit the transform."""
    h = hashlib.sha256()
    for it in sorted(items, key=lambda it: it.id):
        h.update(f"{it.id}\0{it.content_hash}\n".encode())
    return h.hexdigest()


def make_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=(1, 2),
        min_df=1,
        max_features=MAX_FEATURES,
        lowercase=True,
        norm="l2",
        dtype=np.float64,
    )


class TfidfSVDEncoder(Encoder):
    def __init__(self, components: int = COMPONENTS, seed: int = 0) -> None:
        self.components, self.seed = int(components), int(seed)
        self.tfidf: Any = None
        self.svd: Any = None
        self.spec = replace(TFIDF_SVD, dim=self.components)
        self.weights_source = "unfit"
        self._data_hash = ""

    def fit(self, texts: list[str], source: str, data_hash: str) -> TfidfSVDEncoder:
        from sklearn.decomposition import TruncatedSVD

        if not texts:
            raise ValueError(f"{source}: no training texts to fit TF-IDF + SVD on")
        self.tfidf = make_tfidf()
        X = self.tfidf.fit_transform(texts)
        rank = max(1, min(self.components, X.shape[0], X.shape[1] - 1))  # what TruncatedSVD can give
        self.svd = TruncatedSVD(n_components=rank, algorithm="randomized", random_state=self.seed).fit(X)
        self.spec = replace(
            TFIDF_SVD,
            dim=self.components,
            input={
                **TFIDF_SVD.input,
                "components": self.components,
                "components_fitted": rank,
                "seed": self.seed,
                "vocabulary": len(self.tfidf.vocabulary_),
            },
        )
        self.weights_source, self._data_hash = f"fit:{source}#train", data_hash
        self._fingerprint = None
        return self

    def _compute_fingerprint(self) -> str:
        if self.svd is None:
            raise RuntimeError("text/tfidf-svd is not fit: build it with weights='<dataset ref>'")
        h = hashlib.sha256(self._data_hash.encode())
        for term in sorted(self.tfidf.vocabulary_):
            h.update(f"{term}\0{self.tfidf.vocabulary_[term]}\n".encode())
        h.update(np.ascontiguousarray(self.tfidf.idf_).tobytes())
        h.update(np.ascontiguousarray(self.svd.components_).tobytes())
        h.update(str(sorted(self.spec.input.items())).encode())
        return h.hexdigest()[:12]

    def preprocess(self, sample: Any, item_id: str) -> str:
        if self.svd is None:
            raise RuntimeError("text/tfidf-svd is not fit: build it with weights='<dataset ref>'")
        if isinstance(sample, Text):
            text = sample.text
        elif isinstance(sample, str):
            text = sample
        else:
            raise ItemError(f"{item_id}: expected text (a Text sample), got a {type(sample).__name__}")
        if not text.strip():
            raise ItemError(f"{item_id}: empty text")
        if self.tfidf.transform([text]).nnz == 0:  # a zero vector ranks every document the same: no answer
            raise ItemError(f"{item_id}: no word of the vocabulary fitted on {self.weights_source}")
        return text

    def encode(self, inputs: list[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        out = np.zeros((len(inputs), self.components), np.float32)
        if inputs:
            z = normalize(self.svd.transform(self.tfidf.transform(inputs)))
            out[:, : z.shape[1]] = z
        return out


def fit_on_dataset(ref: str, components: int = COMPONENTS, seed: int = 0) -> TfidfSVDEncoder:
    """Open ``ref`` through the dataset registry and fit on its train items that load."""
    from embedforge.registry.datasets import open_dataset

    ds = open_dataset(ref)
    train, texts = [], []
    for it in (it for it in ds.items() if it.split == "train"):
        try:
            sample = ds.load(it)
        except ItemError:
            continue
        train.append(it)
        texts.append(sample.text)
    if not train:
        raise ValueError(f"{ref} has no loadable items with split 'train' to fit TF-IDF + SVD on")
    return TfidfSVDEncoder(components, seed).fit(texts, ref, train_hash(train))


def build(weights: str | None = None, device: str = "cpu", **options: Any) -> TfidfSVDEncoder:
    """``weights`` is the dataset whose train split fits the transform (device is ignored: CPU)."""
    if not weights:
        raise ValueError(
            "text/tfidf-svd has no pre-trained weights: pass the dataset whose train split fits it as weights, "
            "e.g. weights='textfolder:/data/news'"
        )
    return fit_on_dataset(weights, **options)
