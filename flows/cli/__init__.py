"""The ``embedforge`` console script: thin Typer commands over flows and plain functions."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import typer
from pydantic import ValidationError

from embedforge.registry.settings import Settings, apply_quiet_env

app = typer.Typer(
    help="Frozen foundation-model embeddings, vector tables, tracked heads and served models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each module exposes ``register(app)``; listed explicitly so the command set is predictable.
COMMAND_MODULES = (
    "embedforge.flows.cli.core",
    "embedforge.flows.cli.benchmark",
    "embedforge.flows.cli.ops",
    "embedforge.flows.cli.index",
    "embedforge.flows.cli.analyze",
)


@app.callback()
def _root(
    home: Path | None = typer.Option(None, "--home", help="data directory (default EMBEDFORGE_HOME, ~/.embedforge)"),
    debug: bool = typer.Option(False, "--debug", help="show the traceback of a refused command"),
    temporary_server: bool = typer.Option(
        False,
        "--temporary-server",
        help="run flows on a Prefect server of this command's own, not the shared background one",
    ),
) -> None:
    """Resolve the data directory before any command imports Prefect, so its home lives there too."""
    if home is not None:
        os.environ["EMBEDFORGE_HOME"] = str(home.expanduser())
    if temporary_server:
        os.environ["EMBEDFORGE_PREFECT_SERVER"] = "temporary"
    os.environ.setdefault("PREFECT_HOME", str(Settings().prefect_dir))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect's SQLite needs the folder


def build_app() -> typer.Typer:
    """Attach every command module once."""
    if not getattr(app, "_embedforge_built", False):
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(app)
        app._embedforge_built = True  # type: ignore[attr-defined]
    return app


def main() -> None:
    from embedforge.infra.ephemeral import tie_ephemeral_servers
    from embedforge.registry.redact import install_log_redaction

    apply_quiet_env()
    tie_ephemeral_servers()  # a temporary Prefect server dies with this process, even on SIGKILL
    install_log_redaction()  # no credentials in any log line this process writes or ships
    from embedforge.registry.registry import RegistryError
    from embedforge.tasks.preflight import PreflightError
    from embedforge.tasks.splits import SplitError

    try:
        build_app()()
    except (PreflightError, RegistryError, SplitError) as exc:  # a mistake in the command, found before any work
        if "--debug" in sys.argv:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except ValidationError as exc:  # bad parameters are the caller's mistake: a message, not a trace
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in err["loc"]) or exc.title
            typer.echo(f"error: {where}: {err['msg']}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
