"""Registers the text encoders: cheap specs now, models only when a factory is called.

Factories take ``weights`` (default: the packaged all-MiniLM-L6-v2; a sentence-transformers directory; a hub id;
for ``text/tfidf-svd`` a dataset ref) and ``device``; transformer encoders also take ``pooling`` and
``batch_size``.
"""

from __future__ import annotations

from typing import Any

from embedforge.modalities.text.specs import MINILM, ST, TFIDF_SVD
from embedforge.registry.encoders import register_encoder


def _probe() -> str | None:
    from embedforge.modalities.text.weights import probe

    return probe()


def _sklearn_probe() -> str | None:
    from importlib.util import find_spec

    return None if find_spec("sklearn") is not None else "scikit-learn is not installed"


def _transformer(spec):
    def build(weights: str | None = None, device: str = "cpu", **options: Any):
        from embedforge.modalities.text.transformer import TransformerTextEncoder
        from embedforge.modalities.text.weights import resolve

        folder, source = resolve(weights)
        return TransformerTextEncoder(spec, folder, source, device, **options)

    return build


def _tfidf(weights: str | None = None, device: str = "cpu", **options: Any):
    from embedforge.modalities.text.tfidf import build

    return build(weights, device, **options)


register_encoder(MINILM, _probe)(_transformer(MINILM))
register_encoder(ST, _probe)(_transformer(ST))
register_encoder(TFIDF_SVD, _sklearn_probe)(_tfidf)
