"""Feature augmentations a leaderboard can combine with an encoder's stored vectors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embedforge.registry.registry import Registry


@dataclass(frozen=True)
class Augmentation:
    """Either a sibling encoder whose table replaces the base one (``variant``), or features fit on raw samples."""

    name: str
    variant_suffix: str | None = None  # e.g. "-diff": use the vectors of "<encoder>-diff"
    raw_factory: Callable[[], Any] | None = None  # object with fit(samples) and transform(samples) -> (n, d)


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
