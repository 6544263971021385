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


_PLANNED: dict[tuple[str, str, str], Any] = {}  # the adapter the latest plan in this process opened
_PLANNED_LOCK = threading.Lock()  # not _BUILD_LOCK: an encoder build (MiniRocket's fit) looks here while holding it


def cached_dataset(ref: str, options: dict[str, Any], stamp: str):
    """One opened adapter per worker process and dataset version (the plan's stamp of every content hash):
    the one the plan opened when it ran in this process, else one opened here once."""
    key = (ref, json.dumps(options, sort_keys=True), stamp)
    with _PLANNED_LOCK:
        planned = _PLANNED.get(key)
    if planned is not None:
        return planned
    with _BUILD_LOCK:
        return _cached_dataset(*key)


def planned_dataset(ref: str, options: dict[str, Any] | None = None) -> Any | None:
    """The adapter the latest plan in this process opened for ``ref`` with these options, if any (a fit on the
    same dataset, MiniRocket's, reuses its parsed cases instead of reading them again)."""
    wanted = (ref, json.dumps(options or {}, sort_keys=True))
    with _PLANNED_LOCK:
        return next((ds for key, ds in _PLANNED.items() if key[:2] == wanted), None)


def remember_planned(ref: str, options: dict[str, Any], stamp: str, opened: Any) -> None:
    """Keep the adapter a plan just opened (and scanned) for its shards in this process; only the latest, so a
    long-lived worker does not hold every dataset it ever planned."""
    with _PLANNED_LOCK:
        _PLANNED.clear()
        _PLANNED[(ref, json.dumps(options, sort_keys=True), stamp)] = opened


@lru_cache(maxsize=4)
def _cached_dataset(ref: str, options: str, stamp: str):
    return open_dataset(ref, **json.loads(options))
