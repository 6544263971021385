"""Training recipes: what a modality trains beyond one head on one label, declared by the modality itself.

HeightCeleb (a sex classifier, then one height regression per sex) and slide heads (bags of tile vectors) are
recipes of ``speech`` and ``pathology``; a plugin registers its own the same way. The generic ``train-recipe``
flow and ``embedforge train recipe NAME -o KEY=VALUE`` run any of them; ``train heightceleb`` and
``train slides`` are the same dispatch with typed options.

An entry is cheap: its parameters are a small pydantic model (the UI's form, validated before any work); the
function that trains is named ``module:function`` and imported only when the recipe runs, since it needs the
store and MLflow (the tasks layer, which a modality never imports). A plugin may give a callable instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embedforge.registry.params import StrictParams
from embedforge.registry.registry import Registry

Run = Callable[[Any, dict[str, Any]], dict[str, Any]]
"""``(params, stores) -> result``: ``stores`` holds ``db_uri``, ``tracking_uri`` and ``artifact_root``; the result
has ``run_id``, ``metrics`` and ``models`` (or ``model``), and may add ``message`` (the run's one line) and
``markdown`` (its summary artifact)."""


@dataclass(frozen=True)
class Recipe:
    """One training recipe: its namespaced name, parameters, the function that trains, what it is for."""

    name: str  # "speech/heightceleb": the modality first, like encoders
    params: type[StrictParams]
    run: str | Run  # "embedforge.tasks.train:run_heightceleb", imported when the recipe runs
    description: str = ""

    @property
    def modality(self) -> str:
        return self.name.split("/", 1)[0]

    def runner(self) -> Run:
        """The training function (imported now, not at registration)."""
        if callable(self.run):
            return self.run
        module, _, attr = self.run.partition(":")
        return getattr(importlib.import_module(module), attr)


RECIPES: Registry[Recipe] = Registry("recipe")


def register_recipe(entry: Recipe) -> Recipe:
    """Register a recipe under its own name; a name outside a modality namespace or loose parameters is refused."""
    if "/" not in entry.name:
        raise ValueError(f"recipe {entry.name!r}: name it MODALITY/NAME (e.g. speech/heightceleb)")
    if not (isinstance(entry.params, type) and issubclass(entry.params, StrictParams)):
        raise TypeError(f"recipe {entry.name!r}: params must be a StrictParams model (strict, no credentials)")
    if isinstance(entry.run, str) and ":" not in entry.run:
        raise ValueError(f"recipe {entry.name!r}: run must be 'module:function' or a callable, got {entry.run!r}")
    RECIPES.register(entry.name, entry)
    return entry


def recipe(name: str) -> Recipe:
    """The registered recipe (built-in catalog and plugins loaded first); unknown names list the known ones."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return RECIPES.get(name)


def recipe_names() -> list[str]:
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return RECIPES.names()
