"""``embedforge benchmark MODALITY``: the leaderboard from the terminal."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from embedforge.flows.cli.console import console
from embedforge.flows.progress import connect_prefect
from embedforge.registry.help import HELP


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def benchmark(
    modality: str = typer.Argument(
        "timeseries",
        help="a registered modality: picks the default adapter and heads (`embedforge modalities` lists them)",
    ),
    encoders: str = typer.Option(
        "", help="registered encoders; empty: the modality's default encoders (comma-separated)"
    ),
    datasets: str = typer.Option(
        "",
        help="names the adapter knows (GunPoint), folders, or adapter:argument; empty: the modality's"
        " (comma-separated)",
    ),
    option: list[str] = typer.Option(
        [], "-o", "--option", help="dataset adapter options, e.g. chunks=rows (KEY=VALUE, repeatable)"
    ),
    augment: str = typer.Option("", help="registered augmentations to combine (diff, stats) (comma-separated)"),
    transforms: str = typer.Option(
        "none",
        help="compact-vector transforms of the features, fitted on train: none, whiten:K, pca:K, "
        "truncate:K, int8, binary (accuracy against bytes per vector) (comma-separated)",
    ),
    heads: str | None = typer.Option(None, help="registered heads; empty: the modality's defaults (comma-separated)"),
    weights: list[str] = typer.Option(
        [],
        "--weights",
        help="per encoder, a hub id or local directory of its weights (ENCODER=DIR_OR_HUB_ID, repeatable)",
    ),
    label: str = typer.Option("label", help=HELP["label"]),
    target: str | None = typer.Option(None, help=HELP["target"]),
    output: str | None = typer.Option(None, "--output", help="also write the leaderboard here"),
    db: str | None = typer.Option(None, help=HELP["db"]),
    tracking_uri: str | None = typer.Option(None, help=HELP["tracking_uri"]),
) -> None:
    """Embed each dataset with each encoder (cached), train each head, score, and print the leaderboard."""
    from embedforge.flows.cli.core import key_values
    from embedforge.flows.params import BenchmarkParams
    from embedforge.tasks.preflight import check_benchmark

    params = BenchmarkParams.model_validate(
        {
            "modality": modality,
            "encoders": _split(encoders),
            "datasets": _split(datasets),
            "options": key_values(option),
            "augment": _split(augment),
            "transforms": _split(transforms) or ["none"],
            "heads": _split(heads or ""),
            "label": label,
            "target": target,
            "db": db,
            "tracking_uri": tracking_uri,
            "output_csv": output,
            "weights": dict(w.split("=", 1) for w in weights),
        }
    )
    check_benchmark(modality, params.encoders, params.augment, params.heads or _default_heads(modality))
    connect_prefect()
    result = _run_with_bar(params)
    print_leaderboard(result["rows"])
    print_left_out(result["rows"])
    print_quality(result.get("quality") or {})
    console.print(
        f"MLflow run {result['run_id']} holds leaderboard.csv, leaderboard.png and leaderboard.md"
        + (f"; CSV written to {output}" if output else "")
    )
    from embedforge.tasks.tracking import where_the_run_is

    for line in where_the_run_is(result["run_id"], None, params.tracking_uri):
        console.print(line, soft_wrap=True)


def _run_with_bar(params) -> dict:
    """The benchmark flow in this process, a bar over its (encoder, dataset) pairs fed by the cells' progress file."""
    import tempfile
    from pathlib import Path

    from embedforge.flows.benchmark import run_benchmark
    from embedforge.flows.progress import run_polling
    from embedforge.registry.settings import Settings

    folder = Settings().home / "progress"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="benchmark-", suffix=".jsonl", dir=folder)
    os.close(fd)
    pairs = len(params.encoders) * len(params.datasets)
    try:
        run = params.model_copy(update={"progress": path})
        label = f"benchmark {params.modality}"
        return run_polling(lambda: run_benchmark(run), lambda _: pairs_done(path, pairs), label)
    finally:
        Path(path).unlink(missing_ok=True)


def pairs_done(path: str, pairs: int) -> tuple[int, int, str | None]:
    """(pairs in all, pairs scored, what the latest event says) from a benchmark's progress file."""
    from embedforge.tasks.progress import read_events

    events = read_events(path)
    done = sum(e["event"] == "pair" for e in events)
    if not events or events[-1]["event"] == "pair":
        return pairs, done, None
    last = events[-1]
    if last["event"] == "embedding":
        return pairs, done, f"embedding {last['dataset']} with {last['encoder']} ({last['items']} items)"
    return pairs, done, f"scoring {last['encoder']} x {last['dataset']}: {last['head']}"


def _default_heads(modality: str) -> list[str]:
    from embedforge.registry.modalities import modality as modality_entry

    return list(modality_entry(modality).default_heads)


def print_left_out(rows: list[dict]) -> None:
    """Judgements a retrieval dataset's qrels make about documents or queries it lacks: scored without, said so."""
    seen = {(r["dataset"], r["label"]): int(r.get("qrels_left_out") or 0) for r in rows if r.get("task") == "retrieval"}
    for (dataset, label), n in sorted(seen.items()):
        if n:
            console.print(
                f"[yellow]{dataset} {label}: {n} judgement(s) name a document or query the folder lacks; left out "
                "of the scores (listed in each cell's MLflow run, qrels_left_out.txt)[/]"
            )


def print_leaderboard(rows: list[dict]) -> None:
    """One table per task, each cell ``accuracy / macro-F1 / AUC`` or ``MAE / RMSE / R²``, the column's best green."""
    from embedforge.tasks.report import pivot
    from embedforge.tasks.scoring import HIGHER_IS_BETTER, METRICS, TITLES

    for task, metrics in METRICS.items():
        grids = [pivot(rows, m) for m in metrics]
        labels, cols, primary = grids[0]
        if not labels:
            continue
        targets = sorted({r["label"] for r in rows if r.get("task") == task})
        title = f"{task} of {', '.join(targets)} (test): " + " / ".join(TITLES[m] for m in metrics)
        table = Table("encoder | augmentation | head", *cols, title=title)
        best = _column_best(primary, higher=HIGHER_IS_BETTER[metrics[0]])
        for i, label in enumerate(labels):
            cells = []
            for j in range(len(cols)):
                text = "" if primary[i, j] != primary[i, j] else " / ".join(_fmt(g[2][i, j]) for g in grids)
                cells.append(f"[bold green]{text}[/]" if text and primary[i, j] == best[j] else text)
            table.add_row(label, *cells)
        console.print(table)


def print_quality(quality: dict[str, dict]) -> None:
    """Beside the scores: each encoder's space as ``embedforge analyze`` last measured it."""
    from embedforge.tasks.leaderboard import QUALITY

    if not quality:
        return
    table = Table("encoder", *QUALITY.values(), "analysed datasets", title="embedding space (embedforge analyze)")
    for encoder, q in sorted(quality.items()):
        table.add_row(encoder, *(f"{q[n]:.3f}" if n in q else "" for n in QUALITY.values()), q["datasets"])
    console.print(table)


def _column_best(values, *, higher: bool) -> list[float | None]:
    """The best finite value of each column (None for an empty column)."""
    out = []
    for col in values.T:
        finite = col[col == col]
        out.append((finite.max() if higher else finite.min()) if finite.size else None)
    return out


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command()(benchmark)
