"""``embedforge index`` (an ANN index tuned against exact search) and ``transform`` (compact derived tables)."""

from __future__ import annotations

import typer
from rich.table import Table

from embedforge.flows.cli.console import console, terminal_bar


def index(
    encoder: str = typer.Option(..., help="registered encoder whose table to index, e.g. speech/ge2e"),
    db: str | None = typer.Option(None, help="LanceDB URI (default: the data directory)"),
    weights: str | None = typer.Option(None, help="the weights the table was made with"),
    table: str | None = typer.Option(None, help="a table name instead of --encoder/--weights (e.g. a derived one)"),
    index_type: str = typer.Option("IVF_HNSW_SQ", "--type", help="IVF_HNSW_SQ, IVF_PQ, IVF_HNSW_PQ, IVF_SQ"),
    partitions: int | None = typer.Option(None, min=1, help="IVF partitions (default: about one per 16k rows)"),
    refine: int = typer.Option(5, min=1, help="refine_factor: re-rank k x this many on the full vectors"),
    recall: float = typer.Option(0.97, min=0.01, max=1.0, help="recall@10 vs exact search the tuning must reach"),
) -> None:
    """Build the ANN index now (otherwise built once a table passes EMBEDFORGE_ANN_MIN_ROWS) and record it."""
    from pydantic import ValidationError

    from embedforge.registry.settings import Settings
    from embedforge.tasks.index import IndexConfig, build_vector_index, ensure_scalar_indexes
    from embedforge.tasks.store import VectorStore, table_name

    store = VectorStore(db or Settings().lancedb_uri)
    name = table or table_name(encoder, weights)
    if not store.has(name):
        raise typer.BadParameter(
            store.missing(encoder, weights) if table is None else f"no table {name!r} in {store.uri}"
        )
    tbl = store.db.open_table(name)
    if tbl.count_rows() == 0:
        raise typer.BadParameter(f"table {name!r} is empty: nothing to index")
    ensure_scalar_indexes(tbl)
    try:
        config = IndexConfig.model_validate(
            {"index_type": index_type, "num_partitions": partitions, "refine_factor": refine, "target_recall": recall}
        )
    except ValidationError as exc:
        raise typer.BadParameter(f"{exc.errors()[0]['msg']} (got --type {index_type})") from None
    with terminal_bar(f"indexing {name}") as tick:
        info = build_vector_index(tbl, config, progress=tick)
    out = Table("table", "rows", "index", "build", "search", "recall@10 vs exact")
    out.add_row(
        name,
        str(info["rows"]),
        info["build"]["index_type"],
        ", ".join(f"{k}={v}" for k, v in info["build"].items() if k != "index_type"),
        ", ".join(f"{k}={v}" for k, v in info["search"].items() if k not in ("recall_at_10", "probes")),
        f"{info['search']['recall_at_10']:.3f}",
    )
    console.print(out)


def transform(
    name: str = typer.Argument(..., help="whiten, truncate, pca, int8 or binary"),
    encoder: str = typer.Option(..., help="registered encoder whose table to transform"),
    k: int | None = typer.Option(None, "-k", min=1, help="dimensions kept (whiten, truncate, pca)"),
    db: str | None = typer.Option(None, help="LanceDB URI (default: the data directory)"),
    weights: str | None = typer.Option(None, help="the weights the table was made with"),
    dataset: str | None = typer.Option(None, help="only this dataset's rows"),
    fit_split: str = typer.Option("train", help="rows the transform is fitted on (all rows if none have it)"),
) -> None:
    """Make a derived table (compact vectors) from a stored one, its lineage recorded in its metadata."""
    from embedforge.registry.settings import Settings
    from embedforge.registry.transforms import TRANSFORMS
    from embedforge.tasks.store import VectorStore, table_name
    from embedforge.tasks.transforms import derive

    if name not in TRANSFORMS:
        raise typer.BadParameter(f"unknown transform {name!r}; choose from {', '.join(TRANSFORMS.names())}")
    store = VectorStore(db or Settings().lancedb_uri)
    source = table_name(encoder, weights)
    if not store.has(source):
        raise typer.BadParameter(store.missing(encoder, weights))
    try:
        info = derive(store=store, source=source, name=name, k=k, fit_split=fit_split, dataset=dataset)
    except (ValueError, LookupError) as exc:
        raise typer.BadParameter(str(exc)) from None
    out = Table("derived table", "transform", "dim", "bytes/vector", "rows", "fitted on")
    out.add_row(
        info["table"],
        f"{name}{'' if k is None else f' k={k}'}",
        f"{info['source_dim']} -> {info['dim']}",
        f"{4 * info['source_dim']} -> {info['bytes_per_vector']}",
        str(info["rows"]),
        f"{info['fit_rows']} rows ({info['fit_split']})",
    )
    console.print(out)


def register(app: typer.Typer) -> None:
    """Attach ``index`` and ``transform`` to the ``embedforge`` app."""
    app.command()(index)
    app.command()(transform)
