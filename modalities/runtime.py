"""Where encoders run: the device ``auto`` resolves to, the torch thread cap, and CPU/accelerator parity.

Device resolution and the thread cap are applied by every encoder build, so they live in the registry
(``embedforge.registry.runtime``) and are re-exported here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from embedforge.registry.runtime import cap_torch_threads as cap_torch_threads  # re-exported
from embedforge.registry.runtime import resolve_device as resolve_device  # re-exported

PARITY_MIN_COSINE = 0.9999  # vectors of one table must agree this well whichever device made them
PROBE_ITEMS = 8
_checked: dict[tuple, float] = {}
_lock = threading.Lock()


class ParityError(ValueError):
    """Vectors from this device differ from the CPU reference: they must not share a table."""


CPU_BATCH, ACCELERATOR_BATCH = 16, 64  # items per forward: small on shared cores, larger to keep a GPU busy


def resolve_batch(batch_size: int | None, device: str) -> int:
    """An explicit batch size as given; otherwise one suited to the (resolved) device."""
    if batch_size:
        return int(batch_size)
    return CPU_BATCH if device_kind(device) == "cpu" else ACCELERATOR_BATCH


def device_kind(device: str | None) -> str:
    """``cuda:1`` -> ``cuda``: tables record the kind of device, not its index."""
    return str(device or "cpu").split(":", 1)[0]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two equally shaped vector blocks."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, num / np.maximum(den, 1e-30), np.where(num == 0, 1.0, 0.0))


def parity(model: Any, reference: Any, inputs: Sequence[Any], minimum: float = PARITY_MIN_COSINE) -> float:
    """Smallest cosine between ``model`` and ``reference`` on the same inputs; raises below ``minimum``."""
    got = np.asarray(model.encode(list(inputs)), dtype=np.float32)
    want = np.asarray(reference.encode(list(inputs)), dtype=np.float32)
    worst = float(cosine_rows(got, want).min()) if len(inputs) else 1.0
    if worst < minimum:
        raise ParityError(
            f"{model.spec.name}: vectors on this device differ from the CPU reference (cosine {worst:.6f} < "
            f"{minimum}); they cannot share a table made on another device"
        )
    return worst


def parity_gate(
    key: tuple, device: str, model: Any, reference: Callable[[], Any], inputs: Callable[[], Sequence[Any]]
) -> float | None:
    """Check a non-CPU device against the CPU reference once per process and key; CPU is the reference."""
    if device_kind(device) == "cpu":
        return None
    with _lock:
        if key not in _checked:
            _checked[key] = parity(model, reference(), list(inputs())[:PROBE_ITEMS])
        return _checked[key]


def probe_inputs(model: Any, dataset: Any, items: Sequence[Any], n: int = PROBE_ITEMS) -> list[Any]:
    """Preprocessed inputs of the first items that load cleanly: the parity probe batch."""
    out = []
    for it in items:
        try:
            out.append(model.preprocess(dataset.load(it), it.id))
        except Exception:  # a probe skips items that fail: the run records their failures itself
            continue
        if len(out) == n:
            break
    return out


@contextlib.contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """transformers draws a "Loading weights" bar for every model it builds from local files: noise in a run's
    log where nothing is downloaded. Off while loading; on again after, where it was on (download bars stay)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
