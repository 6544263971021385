"""``embedforge benchmark MODALITY``: the leaderboard from the terminal."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def benchmark(
    modality: str = typer.Argument("timeseries", help="timeseries, cardiac or speech"),
    encoders: str = typer.Option("timeseries/minirocket", help="comma-separated registered encoders"),
    datasets: str = typer.Option("GunPoint,ItalyPowerDemand", help="comma-separated names or folders"),
    augment: str = typer.Option("", help="comma-separated: diff, stats"),
    heads: str | None = typer.Option(None, help="comma-separated heads (default: logreg, rf, linear, ridge)"),
    weights: list[str] = typer.Option([], "--weights", help="ENCODER=DIR_OR_HUB_ID (repeatable)"),
    output: str | None = typer.Option(None, "--output", help="write the leaderboard CSV here"),
    db: str | None = typer.Option(None),
    tracking_uri: str | None = typer.Option(None),
) -> None:
    """Embed each dataset with each encoder (cached), train each head, score, and print the leaderboard."""
    from embedforge.flows.benchmark import run_benchmark
    from embedforge.flows.params import DEFAULT_HEADS, BenchmarkParams

    params = BenchmarkParams(
        modality=modality,
        encoders=_split(encoders),
        datasets=_split(datasets),
        augment=_split(augment),
        heads=_split(heads) if heads else list(DEFAULT_HEADS),
        db=db,
        tracking_uri=tracking_uri,
        output_csv=output,
        weights=dict(w.split("=", 1) for w in weights),
    )
    result = run_benchmark(params)
    print_leaderboard(result["rows"])
    console.print(
        f"MLflow run {result['run_id']} holds leaderboard.csv, leaderboard.png and leaderboard.md"
        + (f"; CSV written to {output}" if output else "")
    )


def print_leaderboard(rows: list[dict]) -> None:
    from embedforge.tasks.leaderboard import pivot

    labels, cols, acc = pivot(rows)
    table = Table("encoder | augmentation | head", *cols, title="test accuracy")
    for label, row in zip(labels, acc):
        best = [v == max(acc[:, j][~(acc[:, j] != acc[:, j])], default=None) for j, v in enumerate(row)]
        table.add_row(
            label, *[("" if v != v else (f"[bold green]{v:.3f}[/]" if b else f"{v:.3f}")) for v, b in zip(row, best)]
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(benchmark)
