"""The head registry: ``classify/logreg`` -> a factory returning an unfitted sklearn-style estimator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedforge.registry.registry import Registry

HEADS: Registry[Callable[..., Any]] = Registry("head")


def build_head(name: str, **params: Any) -> Any:
    """Resolve a registry key (loading the built-in catalog first) and build an unfitted head."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return HEADS.get(name)(**params)
