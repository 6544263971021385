"""The dataset-adapter registry: ``voxceleb:DIR`` names an adapter and its argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from embedforge.registry.registry import Registry

if TYPE_CHECKING:
    from embedforge.modalities.base import Dataset

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")


def open_dataset(ref: str, **options: Any) -> Dataset:
    """Open ``kind:argument`` (e.g. ``voxceleb:/data/vox1``) through its registered adapter."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    kind, _, arg = ref.partition(":")
    return DATASETS.get(kind)(arg, **options)
