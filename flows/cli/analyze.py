"""``embedforge analyze`` and ``embedforge curate``: look at a table's stored vectors, pick a diverse subset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from embedforge.flows.cli.console import console
from embedforge.flows.progress import connect_prefect
from embedforge.registry.help import HELP


def analyze(
    encoder: str | None = typer.Option(
        None, help="encoder whose table is analysed, e.g. text/all-minilm-l6-v2; default every table"
    ),
    dataset: str | None = typer.Option(None, help="dataset name in the table (a,b for several); default all"),
    what: str = typer.Option(
        "dups,clusters,outliers,labels,map,quality",
        help="the analyses to run: dups, clusters, outliers, labels, map, quality (comma-separated)",
    ),
    label: str = typer.Option("label", help=HELP["label"]),
    threshold: float = typer.Option(0.95, help="cosine similarity from which two rows are copies"),
    k: int = typer.Option(10, help="neighbours per row in the graph (duplicates, outliers, hubness)"),
    clusters: str = typer.Option("kmeans", help="k-means (k by silhouette) or HDBSCAN"),
    n_clusters: int | None = typer.Option(None, help="k-means' k; default chosen by silhouette"),
    map_method: str = typer.Option("umap", "--map", help="the 2-D layout of the map: umap or pca"),
    map_points: int = typer.Option(20_000, help="rows drawn on the map (a seeded sample above)"),
    output: Path | None = typer.Option(
        None, "--output", help="folder for the CSV/JSON/HTML/PNG files; default HOME/analysis/"
    ),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
    encoder_option: list[str] = typer.Option([], "--encoder-option", help=HELP["encoder_options"]),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: the data directory's store)"),
) -> None:
    """Near-duplicates (and train/test leaks), clusters, outliers, label issues, the space's quality and a map of
    one encoder's stored vectors; written back beside the table so `search --where` can filter on them."""
    from embedforge.flows.cli.core import key_values
    from embedforge.flows.params import AnalyzeParams

    params = AnalyzeParams.model_validate(
        {
            "encoder": encoder,
            "dataset": dataset,
            "what": [w.strip() for w in what.split(",") if w.strip()],
            "label": label,
            "threshold": threshold,
            "k": k,
            "clusters": clusters,
            "n_clusters": n_clusters,
            "map": map_method,
            "map_points": map_points,
            "output": str(output) if output else None,
            "db": db,
            "weights": weights,
            "encoder_options": key_values(encoder_option),
            "tracking_uri": tracking_uri,
        }
    )
    if encoder:  # an unknown encoder, a table or dataset not stored: one line before any flow run
        from embedforge.registry.settings import Settings
        from embedforge.tasks.features import check_stored
        from embedforge.tasks.preflight import known_encoder

        known_encoder(encoder)
        check_stored(db or Settings().lancedb_uri, encoder, weights, params.encoder_options or None, dataset, one=False)
    connect_prefect()
    from embedforge.flows.analyze import run_analyze

    try:
        result = run_analyze(params)
    except (LookupError, ValueError) as exc:
        console.print(f"[red]analyze failed[/]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    for s in result["tables"]:
        print_analysis(s)
    for table in result["skipped"]:
        console.print(f"skipped {table}: its metadata names no encoder")
    if not result["tables"]:
        console.print("no tables to analyse: embed a dataset first")


def print_analysis(s: dict) -> None:
    """Counts, the largest groups, the leaks (loudly), and where the files are."""
    done = ", ".join(s["computed"]) or "nothing"
    reused = f"; reused {', '.join(s['reused'])}" if s["reused"] else ""
    console.print(f"{s['encoder']}: {s['rows']} rows; computed {done}{reused}", highlight=False)
    d = s.get("duplicates")
    if d:
        console.print(f"duplicate groups: {d['groups']} ({d['redundant_rows']} redundant rows)")
        for size, members in zip(d["largest_sizes"], d["largest"], strict=True):
            more = f", ... ({size - len(members)} more)" if size > len(members) else ""
            console.print(f"  {size} rows: {', '.join(members)}{more}", highlight=False, soft_wrap=True)
        if d["leaking_groups"]:
            console.print(f"[bold red]LEAK[/]: {d['leaking_groups']} duplicate groups span train and test")
            for members in d["leaks"]:
                console.print(f"  [red]leak[/] {', '.join(members)}", highlight=False, soft_wrap=True)
    if "clusters" in s:
        shown, count = len(s["clusters"]["largest"]), s["clusters"]["count"]
        title = f"{count} clusters" + (f" (the {shown} largest)" if count > shown else "")
        table = Table("cluster", "size", "labels", title=title)
        for c in s["clusters"]["largest"]:
            table.add_row(str(c["cluster"]), str(c["size"]), ", ".join(f"{k}: {v}" for k, v in c["labels"].items()))
        console.print(table)
    if "label_issues" in s:
        console.print(f"label issues: {s['label_issues']['count']} (label_issues.csv, worst first)")
    if "outliers" in s:
        console.print(f"most isolated: {', '.join(s['outliers'])}", highlight=False, soft_wrap=True)
    for k, v in s.get("quality", {}).items():
        console.print(f"{k.replace('_', ' ')}: {v:,.3f}", highlight=False)
    console.print(f"files: {s['output']} ({', '.join(s['files'])})", highlight=False, soft_wrap=True)
    if s.get("run_id"):
        console.print(f"MLflow run {s['run_id']} (experiment analysis)")


def curate(
    encoder: str = typer.Option(..., help="encoder whose table the subset is drawn from"),
    budget: int = typer.Option(..., min=1, help="rows to pick"),
    output: Path = typer.Option(Path("subset.csv"), "--output", help="the manifest CSV to write"),
    dataset: str | None = typer.Option(None, help="dataset name in the table (a,b for several); default all"),
    split: str | None = typer.Option(None, help="pick only from this split (e.g. train)"),
    dedup: bool = typer.Option(False, help="drop near-duplicate copies first (keeps each group's representative)"),
    threshold: float = typer.Option(0.95, help="cosine similarity from which two rows are copies (with --dedup)"),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
) -> None:
    """A diverse subset (k-center greedy) as a manifest that `embed -o subset=PATH` and `train head -o subset=PATH`
    take back."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.curate import curate as pick

    try:
        out = pick(
            db or Settings().lancedb_uri, encoder, budget, str(output), dataset, dedup, split, threshold, weights
        )
    except (LookupError, ValueError) as exc:
        console.print(f"[red]curate failed[/]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    dropped = f", {out['dropped_duplicates']} duplicate copies dropped first" if dedup else ""
    console.print(
        f"picked {out['picked']} of {out['pool']} rows{dropped}; every row within cosine distance "
        f"{out['coverage_radius']:.3f} of a pick\nmanifest: {out['manifest']} (use: -o subset={out['manifest']})",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Attach ``analyze`` and ``curate`` to the ``embedforge`` app."""
    app.command()(analyze)
    app.command()(curate)
