"""Run a registered training recipe by name: the one function the generic train flow and the CLI dispatch to."""

from __future__ import annotations

from typing import Any


def train_recipe(
    *, recipe: str, params: dict[str, Any], db_uri: str, tracking_uri: str, artifact_root: str | None = None
) -> dict[str, Any]:
    """Validate ``params`` with the recipe's own model (before any work), then run it on the stored vectors.

    Takes the parameters as plain data (what a Prefect task records and retries with); the result always has a
    ``message`` and a ``markdown`` summary, written here when the recipe gives none.
    """
    from embedforge.registry.recipes import recipe as lookup

    entry = lookup(recipe)
    checked = entry.params.model_validate(params)
    stores = {"db_uri": db_uri, "tracking_uri": tracking_uri, "artifact_root": artifact_root}
    result = dict(entry.runner()(checked, stores))
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted((result.get("metrics") or {}).items()))
    result.setdefault("message", f"{recipe}: {metrics}")
    result.setdefault("markdown", f"**{recipe}**: {metrics}")
    return result
