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


def build_head(name: str, context: dict[str, Any] | None = None, **params: Any) -> Any:
    """Resolve a registry key (loading the built-in catalog first) and build an unfitted head.

    ``context`` (e.g. the table's ``encoder`` and ``weights``) reaches only heads whose factory names those
    parameters: a zero-shot head needs the encoder's text tower, a ridge head needs nothing.
    """
    import inspect

    from embedforge.registry.catalog import load_catalog

    load_catalog()
    factory = HEADS.get(name)
    accepted = inspect.signature(factory).parameters
    extra = {k: v for k, v in (context or {}).items() if k in accepted and k not in params}
    return factory(**extra, **params)


def head_task(name: str) -> str:
    """``classify/rf`` -> ``classification``, ``regress/pls`` -> ``regression``: how the leaderboard scores it."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    task = getattr(HEADS.get(name), "task", None) or ("regression" if name.startswith("regress/") else "classification")
    if task not in TASKS:
        raise ValueError(f"head {name!r} declares task {task!r}; expected one of {', '.join(TASKS)}")
    return task
