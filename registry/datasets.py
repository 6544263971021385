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
    subset = options.pop("subset", None)
    dataset = DATASETS.get(kind)(arg, **options)
    return dataset if subset is None else restrict(dataset, str(subset))


def manifest_ids(path: str) -> set[str]:
    """The ``id`` column of a manifest CSV (``embedforge curate`` writes them)."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "id" not in rows[0]:
        raise ValueError(f"subset={path}: not a manifest (a CSV with an id column)")
    return {r["id"] for r in rows}


def restrict(dataset: Dataset, path: str) -> Dataset:
    """``-o subset=PATH``: the adapter lists only the items the manifest names, every other behaviour unchanged;
    a manifest that names none of the dataset's items is an error naming a few of its ids."""
    wanted, listed = manifest_ids(path), dataset.items

    def items():
        kept = [it for it in listed() if it.id in wanted]
        if not kept:
            raise ValueError(f"subset={path} names none of this dataset's items (e.g. {', '.join(sorted(wanted)[:3])})")
        return kept

    dataset.items = items  # type: ignore[method-assign]
    return dataset
