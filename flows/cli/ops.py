"""Operations commands: ``stack up|status|down``, ``deploy`` and ``serve``."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from embedforge.flows.cli.console import console, print_copyable
from embedforge.registry.redact import redact

if TYPE_CHECKING:
    from embedforge.registry.settings import Settings

HomeOpt = Annotated[Path | None, typer.Option("--home", help="data directory (default EMBEDFORGE_HOME)")]
PrefectPortOpt = Annotated[int | None, typer.Option("--prefect-port", help="Prefect server port")]
MlflowPortOpt = Annotated[int | None, typer.Option("--mlflow-port", help="MLflow server port")]


def make_settings(
    home: Path | None = None, prefect_port: int | None = None, mlflow_port: int | None = None
) -> Settings:
    """Settings from EMBEDFORGE_* variables, overridden by the options given."""
    from embedforge.registry.settings import Settings

    given: dict[str, Any] = {"home": home, "prefect_port": prefect_port, "mlflow_port": mlflow_port}
    return Settings.model_validate({k: v for k, v in given.items() if v is not None})


def new_table(*headers: str, title: str) -> Table:
    """A table whose URLs and paths fold instead of being cut off in narrow terminals."""
    return Table(*(Column(h, overflow="fold") for h in headers), title=title)


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {redact(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def up(home: HomeOpt = None, prefect_port: PrefectPortOpt = None, mlflow_port: MlflowPortOpt = None) -> None:
    """Start the Prefect server, a process worker and the MLflow server on loopback, detached."""
    from embedforge.infra.stack import StackError, stack_dir, stack_up

    settings = make_settings(home, prefect_port, mlflow_port)
    try:
        with console.status("starting Prefect server, MLflow server and worker ..."):
            entries = stack_up(settings)
    except StackError as exc:
        fail(str(exc))
    table = new_table("service", "pid", "ready in", "url", title=f"embedforge stack ({settings.home})")
    for name, e in entries.items():
        table.add_row(name, str(e["pid"]), f"{e.get('ready_s', 0):.1f} s", e.get("url") or f"pool {e.get('pool')}")
    console.print(table)
    console.print(
        f"Prefect UI  {entries['prefect-server']['url']}\nMLflow UI   {entries['mlflow']['url']}\n"
        f"logs        {stack_dir(settings)}",
        highlight=False,
    )


def status(home: HomeOpt = None, prefect_port: PrefectPortOpt = None, mlflow_port: MlflowPortOpt = None) -> None:
    """Show each service's pid and health; exit 1 unless all are healthy."""
    from embedforge.infra.stack import stack_dir, stack_status

    settings = make_settings(home, prefect_port, mlflow_port)
    rows = stack_status(settings)
    table = new_table("service", "pid", "process", "health", "url", title=f"embedforge stack ({settings.home})")
    for r in rows:
        table.add_row(
            r.name,
            str(r.pid or "-"),
            "[green]running[/]" if r.running else "[red]stopped[/]",
            "[green]ok[/]" if r.healthy else "[red]no[/]",
            r.url or "-",
        )
    console.print(table)
    console.print(f"logs: {stack_dir(settings)}", highlight=False, soft_wrap=True)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def down(home: HomeOpt = None, prefect_port: PrefectPortOpt = None, mlflow_port: MlflowPortOpt = None) -> None:
    """Stop every service the stack started (worker first)."""
    from embedforge.infra.stack import stack_down

    settings = make_settings(home, prefect_port, mlflow_port)
    stopped = stack_down(settings)
    if not stopped:
        print_copyable(f"no stack recorded in {settings.home}")
    for name, was_running in stopped.items():
        console.print(f"{name}: {'stopped' if was_running else 'was not running'}")


def deploy_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="deployment names (default all)")] = None,
    home: HomeOpt = None,
    prefect_port: PrefectPortOpt = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="another Prefect API, e.g. http://prefect-server:4200/api")
    ] = None,
) -> None:
    """Register prefect.yaml's deployments (with their schedules) on the running stack."""
    from embedforge.infra.deploy import deploy
    from embedforge.infra.stack import StackError, prefect_api_url, project_root

    settings = make_settings(home, prefect_port)
    try:
        with console.status("prefect deploy ..."):
            deployed, skipped = deploy(settings, names or None, api_url)
    except StackError as exc:
        fail(str(exc))
    table = new_table("deployment", "flow entrypoint", "work pool", "schedules", title="deployed")
    for d in deployed:
        scheds = (
            ", ".join(
                f"{s['schedule'].get('cron') or s['schedule']}{'' if s['active'] else ' (paused)'}"
                for s in d["schedules"]
            )
            or "-"
        )
        table.add_row(d["name"], d["entrypoint"], d["work_pool_name"], scheds)
    console.print(table)
    for d in skipped:
        console.print(f"[yellow]skipped[/] {d['name']}: {d['entrypoint']} does not exist yet", highlight=False)
    ui = (api_url or prefect_api_url(settings)).removesuffix("/api")
    print_copyable(f"Deployments: {ui}/deployments (runs execute from {project_root()})", highlight=False)


def serve_cmd(
    model: Annotated[str, typer.Argument(help="registered model as NAME@ALIAS, NAME/VERSION or models:/ URI")],
    port: Annotated[int, typer.Option("--port", help="port to serve on")] = 5001,
    host: Annotated[str, typer.Option("--host", help="interface to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", help="uvicorn workers")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command and exit")] = False,
    home: HomeOpt = None,
) -> None:
    """Serve a registered model over REST: MLflow's scoring server in this environment, behind a request boundary."""
    from embedforge.infra.deploy import serve_command
    from embedforge.infra.serving import MODEL_ENV

    settings = make_settings(home)
    cmd, env = serve_command(settings, model, port, host, workers)
    console.print(
        redact(f"{MODEL_ENV}={env[MODEL_ENV]} MLFLOW_TRACKING_URI={env['MLFLOW_TRACKING_URI']} {shlex.join(cmd)}"),
        highlight=False,
        soft_wrap=True,
    )
    if dry_run:
        return
    print_copyable(f"POST http://{host}:{port}/invocations  (GET /ping, /health)", highlight=False)
    os.execve(cmd[0], cmd, env)


def server_start(home: HomeOpt = None) -> None:
    """Start the home's background Prefect server now (commands with work start it on first use anyway)."""
    from embedforge.infra.local_server import ensure_server, server_status
    from embedforge.infra.stack import StackError

    settings = make_settings(home)
    try:
        with console.status("starting the background Prefect server ..."):
            ensure_server(settings)
    except StackError as exc:
        fail(str(exc))
    _print_server(server_status(settings), settings)


def server_status_cmd(home: HomeOpt = None) -> None:
    """The background Prefect server commands share: pid, UI, commands using it, idle time; exit 1 if not running."""
    from embedforge.infra.local_server import server_status

    settings = make_settings(home)
    info = server_status(settings)
    _print_server(info, settings)
    if not info["healthy"]:
        raise typer.Exit(1)


def server_stop(home: HomeOpt = None) -> None:
    """Stop the background Prefect server; the next command with work starts a new one."""
    from embedforge.infra.local_server import stop_server

    settings = make_settings(home)
    was = stop_server(settings)
    console.print("background Prefect server stopped" if was else f"no background Prefect server in {settings.home}")


def _print_server(info: dict, settings: Settings) -> None:
    if not info["running"]:
        print_copyable(f"no background Prefect server in {settings.home}", highlight=False)
        return
    idle = info["idle_s"]
    use = f"{len(info['clients'])} command(s) using it" if idle is None else f"idle {idle:.0f} s"
    console.print(
        f"background Prefect server pid {info['pid']}: {'[green]ok[/]' if info['healthy'] else '[red]not answering[/]'}"
        f", {use}, stops after {info['idle_limit_s']:.0f} s idle\nPrefect UI  {info['url']}\nlog         {info['log']}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Attach ``stack``, ``server``, ``deploy`` and ``serve`` to the embedforge CLI."""
    stack = typer.Typer(help="Local Prefect + MLflow stack on loopback.", no_args_is_help=True)
    stack.command("up")(up)
    stack.command("status")(status)
    stack.command("down")(down)
    app.add_typer(stack, name="stack")
    server = typer.Typer(
        help="The background Prefect server commands share (started on first use, stopped when idle).",
        no_args_is_help=True,
    )
    server.command("start")(server_start)
    server.command("status")(server_status_cmd)
    server.command("stop")(server_stop)
    app.add_typer(server, name="server")
    app.command("deploy")(deploy_cmd)
    app.command("serve")(serve_cmd)
