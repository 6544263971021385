"""``embedforge train recipes`` and ``train recipe NAME``: any modality's registered training recipe by name."""

from __future__ import annotations

import typer
from rich.table import Table

from embedforge.flows.cli.console import console


def list_recipes() -> None:
    """Every registered training recipe (built-ins and plugins), with the parameters ``-o`` takes."""
    from embedforge.registry.recipes import recipe, recipe_names

    table = Table("recipe", "what it trains", "parameters (-o KEY=VALUE; default)")
    for name in recipe_names():
        entry = recipe(name)
        fields = [
            f"{k}={_shown(f.get_default(call_default_factory=True))}" for k, f in entry.params.model_fields.items()
        ]
        table.add_row(name, entry.description, ", ".join(fields))
    console.print(table)


def train_recipe_cmd(
    name: str = typer.Argument(..., help="a registered recipe, e.g. speech/heightceleb (`train recipes` lists them)"),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="recipe parameter KEY=VALUE (repeatable; a mapping parameter takes KEY=k1:v1,k2:v2)"
    ),
) -> None:
    """Run a modality's registered training recipe on stored vectors; tracked and registered in MLflow."""
    from pydantic import ValidationError

    from embedforge.flows.cli.core import key_values, print_training
    from embedforge.flows.progress import connect_prefect
    from embedforge.registry.recipes import recipe
    from embedforge.registry.registry import RegistryError

    try:
        entry = recipe(name)
    except RegistryError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        params = entry.params.model_validate(_typed(entry.params, key_values(option)))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "parameters"
        raise typer.BadParameter(f"{name}: {where}: {first['msg']}") from None
    connect_prefect()
    from embedforge.flows.train import run_recipe

    result = run_recipe(name, params)
    models = result.get("models") or ({"model": result["model"]} if result.get("model") else {})
    print_training({**result, "models": models}, getattr(params, "tracking_uri", None))


def _shown(default: object) -> str:
    if isinstance(default, dict):
        return ",".join(f"{k}:{v}" for k, v in default.items())
    return "" if default is None else str(default)


def _typed(model, given: dict[str, str]) -> dict[str, object]:
    """``-o`` values are text: a dict-valued field takes ``k1:v1,k2:v2``; the rest pydantic converts."""
    out: dict[str, object] = {}
    for key, value in given.items():
        field = model.model_fields.get(key)
        if field is not None and field.annotation is not None and "dict" in str(field.annotation):
            out[key] = dict(pair.split(":", 1) for pair in value.split(",") if pair)
        else:
            out[key] = value
    return out


def register(app: typer.Typer) -> None:
    """Attach ``train recipes`` and ``train recipe`` to the ``train`` group."""
    from embedforge.flows.cli.core import train_app

    train_app.command("recipes")(list_recipes)
    train_app.command("recipe")(train_recipe_cmd)
