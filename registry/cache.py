"""Per-process caches of loaded encoders and opened datasets, shared by embedding, search and heads that embed
(zero-shot class prompts): one loaded model per worker process, whichever layer asks."""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

from embedforge.registry.datasets import open_dataset
from embedforge.registry.encoders import build_encoder

_BUILD_LOCK = threading.Lock()  # model loaders (transformers) are not thread-safe


def cached_encoder(encoder: str, weights: str | None, device: str = "cpu", options: dict[str, Any] | None = None):
    """One loaded model per worker process, reused across its shards and queries."""
    with _BUILD_LOCK:
        return _cached_encoder(encoder, weights, device, json.dumps(options or {}, sort_keys=True))


@lru_cache(maxsize=2)
def _cached_encoder(encoder: str, weights: str | None, device: str, options: str):
    return build_encoder(encoder, weights=weights, device=device, **json.loads(options))


def cached_dataset(ref: str, options: dict[str, Any], stamp: str):
    """One opened adapter per worker process and dataset version (the plan's stamp of every content hash)."""
    with _BUILD_LOCK:
        return _cached_dataset(ref, json.dumps(options, sort_keys=True), stamp)


@lru_cache(maxsize=4)
def _cached_dataset(ref: str, options: str, stamp: str):
    return open_dataset(ref, **json.loads(options))
