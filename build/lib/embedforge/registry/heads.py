"""The head registry: ``classify/logreg`` -> a factory returning an unfitted sklearn-style estimator.

A head's task decides how the leaderboard scores it: ``regression`` heads predict one number (MAE, RMSE, R²),
``classification`` heads class labels (accuracy, macro-F1, AUC). The task is the factory's ``task`` attribute
where it has one, else the name: ``regress/*`` is regression, every other head (``classify/*``, ``mil/*``, ...)
classification. Plugins follow the same convention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedforge.registry.registry import Registry

HEADS: Registry[Callable[..., Any]] = Registry("head")

TASKS = ("classification", "regression")


def build_head(name: str, **params: Any) -> Any:
    """Resolve a registry key (loading the built-in catalog first) and build an unfitted head."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return HEADS.get(name)(**params)


def head_task(name: str) -> str:
    """``classify/rf`` -> ``classification``, ``regress/pls`` -> ``regression``: how the leaderboard scores it."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    task = getattr(HEADS.get(name), "task", None) or ("regression" if name.startswith("regress/") else "classification")
    if task not in TASKS:
        raise ValueError(f"head {name!r} declares task {task!r}; expected one of {', '.join(TASKS)}")
    return task
