"""The head registry: ``classify/logreg`` -> a factory returning an unfitted sklearn-style estimator.

A head's task is its name prefix: ``classify/*`` heads predict class labels (scored with accuracy, macro-F1,
AUC), ``regress/*`` heads predict one number (scored with MAE, RMSE, R²). Plugins follow the same convention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedforge.registry.registry import Registry

HEADS: Registry[Callable[..., Any]] = Registry("head")

TASKS = {"classify/": "classification", "regress/": "regression"}


def build_head(name: str, **params: Any) -> Any:
    """Resolve a registry key (loading the built-in catalog first) and build an unfitted head."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return HEADS.get(name)(**params)


def head_task(name: str) -> str:
    """``classify/rf`` -> ``classification``, ``regress/pls`` -> ``regression``: how the head is scored."""
    for prefix, task in TASKS.items():
        if name.startswith(prefix):
            return task
    raise ValueError(f"head {name!r} names no task: head names start with {' or '.join(TASKS)}")
