"""Core commands: list encoders, embed a dataset, search a table, train and register heads, the demo."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.table import Table

from embedforge.flows.cli.console import console, print_copyable, terminal_bar
from embedforge.flows.progress import connect_prefect
from embedforge.registry.help import HELP

train_app = typer.Typer(help="Train heads on stored vectors; tracked and registered in MLflow.", no_args_is_help=True)


def key_values(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs -> dict, with a clear error for anything else; one option may hold several,
    ``-o text=review,label=stars``, split where a comma is followed by the next ``KEY=`` (so a value may hold
    commas: ``-o classes=a,b``)."""
    out = {}
    for pair in (part for given in pairs for part in _NEXT_KEY.split(given)):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


_NEXT_KEY = re.compile(r",(?=[A-Za-z_][A-Za-z0-9_.-]*=)")


def encoders() -> None:
    """List every registered encoder and whether its weights can be loaded on this machine."""
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.encoders import ENCODERS

    load_catalog()
    table = Table("encoder", "modality", "dim", "weights source", "checked against", "loadable here")
    table.columns[0].no_wrap = True
    for name in ENCODERS:
        entry = ENCODERS.get(name)
        reason = entry.probe()
        table.add_row(
            name,
            entry.spec.modality,
            str(entry.spec.dim),
            entry.spec.weights,
            entry.spec.reference or "-",
            "[green]yes[/]" if reason is None else f"[yellow]no[/]: {reason}",
        )
    console.print(table)


def embed(
    dataset: str = typer.Option(..., help="adapter:argument, e.g. voxceleb:/data/vox1 or ucr:GunPoint"),
    encoder: str = typer.Option(..., help="registered encoder, e.g. speech/ge2e"),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
    name: str | None = typer.Option(None, help="name of the dataset in the table; default from the argument"),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="adapter options, e.g. heightceleb=PATH (KEY=VALUE, repeatable)"
    ),
    shard_size: int = typer.Option(256, help="items per shard task (a killed run redoes at most one)"),
    batch_size: int | None = typer.Option(
        None, help="items per encoder forward; default 16 on CPU, 64 on a GPU (the run records it)"
    ),
    device: str = typer.Option("auto", help="torch device; auto: CUDA when present, else CPU (the run records which)"),
    runner: str = typer.Option("thread", help="task runner: thread or dask"),
    workers: int = typer.Option(1, help="threads, or local Dask workers"),
    dask_address: str | None = typer.Option(None, help="scheduler address of an existing Dask cluster"),
    max_failures: str | None = typer.Option(
        None, help="fail the command past this many failed items: a count (3) or a fraction of the items (0.05)"
    ),
) -> None:
    """Embed a dataset through the Prefect embed flow, with progress and a summary.

    Exit code 1 when nothing was embedded and items failed (or past --max-failures); 2 for a mistake in the
    command, found before any work.
    """
    from embedforge.flows.params import EmbedParams, RunnerParams
    from embedforge.flows.progress import (
        build_while_booting,
        connect_beside_plan,
        connect_for_work,
        import_prefect_while_booting,
        plan_first,
        prefect_sees_api,
        run_with_progress,
    )
    from embedforge.tasks.embed import dataset_name_for
    from embedforge.tasks.preflight import PreflightError, check_embed

    try:
        dataset_name_for(dataset, name)  # a name that would break keys or filters: refused before any work
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--name' / '--dataset'") from None
    _check_max_failures(max_failures)
    options = key_values(option)
    check_embed(dataset, encoder, weights)
    params = EmbedParams(
        dataset=dataset,
        encoder=encoder,
        db=db,  # None: the worker's own setting, so a configured URI never lands in Prefect's parameters
        weights=weights,
        dataset_name=name,
        options=options,
        shard_size=shard_size,
        batch_size=batch_size,
        device=device,
        runner=RunnerParams.model_validate({"kind": runner, "workers": workers, "dask_address": dask_address}),
        progress_artifact=False,  # the bar below shows progress; no artifact API call a second
    )
    connected = connect_beside_plan(params)  # a new table with no server up: it starts while the plan runs
    try:
        nothing, planned = plan_first(params)  # otherwise before any Prefect server starts
    except (OSError, ValueError) as exc:  # an unreadable dataset or a store that refuses: the user's to fix
        raise PreflightError(f"{dataset}: {exc}") from None
    if nothing is not None:
        print_summary(nothing)
        if nothing["failed"] == 0:
            console.print("nothing to do: every item is stored; no flow run started")
        return _exit_on_failures(nothing, max_failures)
    connected = connect_for_work(connected)  # a stopped server starts now, beside the model's build
    build_while_booting(connected, params)  # a server still booting: the model is built meanwhile
    import_prefect_while_booting(connected)  # and Prefect imported
    connected()
    prefect_sees_api()  # a Prefect imported before the API's URL was known reads it now
    from embedforge.flows.embed import run_embed

    params = params.model_copy(update={"plan": planned})  # the flow takes this plan: the dataset is scanned once
    summary = run_with_progress(
        lambda: run_embed(params), Path(str(planned)), f"embedding with {encoder}", planned=True
    )
    print_summary(summary)
    _exit_on_failures(summary, max_failures)


def _check_max_failures(value: str | None) -> None:
    try:
        if value is not None and float(value) < 0:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"{value!r}: a count or a fraction >= 0", param_hint="'--max-failures'") from None


def _exit_on_failures(summary: dict, max_failures: str | None) -> None:
    """Exit code 1 where the run's failures make it a failed run (see ``failure_verdict``)."""
    from embedforge.tasks.report import failure_verdict

    verdict = failure_verdict(summary, max_failures)
    if verdict is not None:
        typer.echo(f"error: {verdict}", err=True)
        raise typer.Exit(1)


def print_summary(summary: dict) -> None:
    """The end-of-run counts, then each failure with its reason."""
    print_copyable(f"[bold]table[/] {summary['table']} in {summary['db']}  [bold]dataset[/] {summary['dataset']}")
    console.print(
        f"embedded [green]{summary['embedded']}[/], reused [cyan]{summary['reused']}[/], "
        f"skipped as already known [cyan]{summary['skipped']}[/], failed [red]{summary['failed']}[/]"
    )
    units, seconds = summary.get("units", 0), summary.get("encode_seconds") or summary.get("shard_seconds", 0.0)
    if units and seconds:
        unit = summary.get("unit") or "units"
        what = "encoding" if summary.get("encode_seconds") else "shard work"
        rate = f"{units:,} {unit} in {seconds:.1f} s of {what}: {units / seconds:,.0f} {unit}/s"
        total = summary.get("shard_seconds", 0.0)
        console.print(rate + (f" (shards {total:.1f} s with model build and store writes)" if total > seconds else ""))
    if summary.get("torch_threads"):
        console.print(f"torch threads per shard: {summary['torch_threads']}")
    for f in summary["failures"]:
        console.print(f"  [red]failed[/] {f['error']}")


def search(
    encoder: str = typer.Option(..., help="the encoder that made the table; its modality reads the query"),
    query: Path | None = typer.Option(
        None, exists=True, help="a file of the encoder's modality (`embedforge modalities`)"
    ),
    text: str | None = typer.Option(None, "--text", help="a sentence instead of a file (encoders with a text tower)"),
    k: int = typer.Option(10, "-k", min=1),
    db: str | None = typer.Option(None),
    weights: str | None = typer.Option(None),
    dataset: str | None = typer.Option(None, help="only this dataset"),
    sheet: Path | None = typer.Option(
        None, "--sheet", help="also draw the hits as an image (video: middle frames; pathology: the tiles)"
    ),
    where: str | None = typer.Option(
        None, "--where", help="SQL filter over the rows, e.g. split = 'test', or analyze's columns: cluster = 3"
    ),
    serve: bool = typer.Option(
        False, "--serve", help="keep the encoder and table warm and answer queries (later `search` calls use it)"
    ),
    port: int = typer.Option(0, "--port", help="with --serve: loopback port (0: a free one)"),
) -> None:
    """Embed a query file (or --text) with the table's encoder and print the nearest stored items with their labels.

    A `search --serve` running for the same table answers instead (milliseconds, no model load)."""
    from embedforge.modalities.base import ItemError
    from embedforge.registry.registry import RegistryError
    from embedforge.registry.settings import Settings

    db_uri = db or Settings().lancedb_uri
    if serve:
        return _serve_queries(db_uri, encoder, weights, port)
    if (query is None) == (text is None):
        raise typer.BadParameter("give exactly one of --query FILE or --text SENTENCE")
    ask = {"text": text} if text is not None else {"path": str(query.resolve())}  # type: ignore[union-attr]
    try:
        hits = _search(db_uri, encoder, weights, dict(ask, k=k, dataset=dataset, where=where))
    except (ItemError, LookupError, ValueError, RegistryError) as exc:
        console.print(f"[red]search failed[/]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    from embedforge.registry.modalities import modality_of_encoder

    previews = modality_of_encoder(encoder).previews
    passages = previews(hits) if previews else None
    heads = ("rank", "cosine distance", "dataset", "id", "group", "split", "labels")
    table = Table(*heads, *(["passage"] if passages is not None else []))
    for rank, hit in enumerate(hits, 1):
        table.add_row(
            str(rank),
            f"{hit['_distance']:.4f}",
            hit["dataset"],
            hit["id"],
            "" if hit["group"] is None else str(hit["group"]),
            "" if hit["split"] is None else str(hit["split"]),
            ", ".join(f"{k}={v}" for k, v in hit["labels"].items() if v is not None),
            *([passages[rank - 1] or ""] if passages is not None else []),
        )
    console.print(table)
    if sheet is not None:
        _draw_sheet(encoder, hits, sheet, query)


def _search(db_uri: str, encoder: str, weights: str | None, query: dict) -> list[dict]:
    """Ask the warm query server for this table when one runs, else search in this process (the same answer)."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.query_server import answer, ask, find_server
    from embedforge.tasks.store import table_name

    given = {key: value for key, value in query.items() if value is not None}
    warm = find_server(Settings().home, db_uri, table_name(encoder, weights))
    if warm is not None:
        try:
            hits = ask(warm, given)
        except ConnectionError:  # stopped since it was found: search here instead
            pass
        else:
            print_copyable(f"[dim]answered by the warm query server at {warm['url']}[/]", highlight=False)
            return hits
    return answer({"db_uri": db_uri, "encoder": encoder, "weights": weights, "encoder_options": None}, given)


def _serve_queries(db_uri: str, encoder: str, weights: str | None, port: int) -> None:
    """``search --serve``: load once, answer until Ctrl-C, then remove the state file."""
    from embedforge.tasks.query_server import make_server

    with console.status(f"loading {encoder} and its table ..."):
        server, state = make_server(db_uri=db_uri, encoder=encoder, weights=weights, port=port)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    console.print(
        f"query server for {server.table} at {url} (loopback; token in {state})\n"
        f"`embedforge search --encoder {encoder} --text ...` or `--query FILE` now asks it; Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        state.unlink(missing_ok=True)


def _draw_sheet(encoder: str, hits: list[dict], path: Path, query: Path | None = None) -> None:
    """The modality's picture of its hits (``Modality.contact_sheet``), where it has one; a query file is drawn
    first, framed in red."""
    from embedforge.registry.modalities import modality_of_encoder

    draw = modality_of_encoder(encoder).contact_sheet
    if draw is None:
        console.print(f"[red]--sheet[/]: {encoder.split('/')[0]} hits have no picture")
        raise typer.Exit(1)
    if query is not None:
        hits = [{"id": query.name, "uri": str(query), "labels": {}, "query": True}, *hits]
    print_copyable(f"contact sheet written to {draw(hits, path)}")


def modalities() -> None:
    """List every registered modality: its dataset adapters, query files and what a served model takes."""
    from embedforge.registry.modalities import modality, modality_names

    table = Table("modality", "sample", "adapters (default first)", "query files", "served input", "default heads")
    table.columns[0].no_wrap = True
    for name in modality_names():
        m = modality(name)
        raw = f"{m.raw_input.column}: {m.raw_input.description}" if m.raw_input else "-"
        query = ", ".join(m.query_suffixes) or ("yes" if m.read_query else "-")
        table.add_row(name, m.sample_type.__name__, ", ".join(m.adapters), query, raw, ", ".join(m.default_heads))
    console.print(table)


def failures(
    encoder: str | None = typer.Option(None),
    dataset: str | None = typer.Option(None),
    db: str | None = typer.Option(None),
    weights: str | None = typer.Option(None),
) -> None:
    """List items that failed to embed, with the reason recorded for each."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.store import VectorStore, table_name

    rows = VectorStore(db or Settings().lancedb_uri).failures(
        table_name(encoder, weights) if encoder else None, dataset
    )
    table = Table("table", "dataset", "id", "error")
    for r in rows:
        table.add_row(r["table"], r["dataset"], r["id"], r["error"])
    console.print(table if rows else "no recorded failures")


@train_app.command("heightceleb")
def train_heightceleb_cmd(
    encoder: str = typer.Option("speech/ecapa-voxceleb", help="encoder whose stored vectors the head uses"),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
    dataset: str | None = typer.Option(None, help="dataset name in the table (VoxCeleb + HeightCeleb labels)"),
    timit_dataset: str | None = typer.Option(None, help="dataset name of TIMIT vectors for a cross-corpus score"),
    regressor: str = typer.Option("pls", help="per-sex height regressor: pls, ridge or svr"),
    name: str | None = typer.Option(None, help=HELP["registered_name"]),
    alias: str = typer.Option("champion", help=HELP["alias"]),
    tracking_uri: str | None = typer.Option(None, help=HELP["tracking_uri"]),
) -> None:
    """HeightCeleb recipe: sex classifier, then one regression per sex; logged and registered in MLflow."""
    from embedforge.flows.params import HeightCelebParams

    params = HeightCelebParams.model_validate(
        {
            "encoder": encoder,
            "db": db,
            "weights": weights,
            "dataset": dataset,
            "timit_dataset": timit_dataset,
            "regressor": regressor,
            "registered_name": name,
            "alias": alias,
            "tracking_uri": tracking_uri,
        }
    )
    connect_prefect()
    from embedforge.flows.train import run_train

    print_training(run_train(params), params.tracking_uri)


@train_app.command("head")
def train_head_cmd(
    encoder: str = typer.Option(..., help="encoder whose stored vectors the head uses, e.g. video/efficientnet-lite0"),
    head: str = typer.Option("classify/logreg", help="registered head: classify/* or regress/*"),
    label: str = typer.Option("label", help=HELP["label"]),
    target: str | None = typer.Option(None, help=HELP["target"]),
    dataset: str | None = typer.Option(
        None, help="dataset name in the table; required when it holds several (a,b trains over several)"
    ),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
    encoder_option: list[str] = typer.Option([], "--encoder-option", help=HELP["encoder_options"]),
    name: str | None = typer.Option(None, help=HELP["registered_name"]),
    alias: str = typer.Option("champion", help=HELP["alias"]),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: the data directory's store)"),
    allow_small: bool = typer.Option(
        False, help="train although a class lacks training items or the test set is tiny (never @champion)"
    ),
    option: list[str] = typer.Option([], "--option", "-o", help="subset=PATH: train on a curated manifest's rows"),
) -> None:
    """Any modality: train a head on stored vectors, log it, register a raw-input and a vector-input model."""
    from embedforge.flows.params import TrainHeadParams

    params = TrainHeadParams.model_validate(
        {
            "encoder": encoder,
            "head": head,
            "target": target,
            "dataset": dataset,
            "db": db,
            "weights": weights,
            "encoder_options": key_values(encoder_option),
            "registered_name": name,
            "alias": alias,
            "tracking_uri": tracking_uri,
            "allow_small": allow_small,
            "subset": _head_options(option).get("subset"),
            **({"label": label} if label != "label" else {}),  # unset: regress/* heads learn the default target
        }
    )
    from embedforge.registry.settings import Settings
    from embedforge.tasks.features import check_stored

    check_stored(params.db or Settings().lancedb_uri, encoder, weights, params.encoder_options, dataset)
    connect_prefect()
    from embedforge.flows.train import run_train_head

    print_training(run_train_head(params), params.tracking_uri)


def _head_options(pairs: list[str]) -> dict[str, str]:
    """``train head -o``: only subset=PATH is known; anything else is named and refused."""
    given = key_values(pairs)
    unknown = sorted(set(given) - {"subset"})
    if unknown:
        raise typer.BadParameter(f"unknown option {', '.join(unknown)}: train head takes -o subset=PATH")
    return given


@train_app.command("slides")
def train_slides_cmd(
    encoder: str = typer.Option("pathology/efficientnet-lite0", help="encoder whose stored tile vectors form bags"),
    head: str = typer.Option("mil/abmil", help="mil/mean, mil/abmil or mil/r2t"),
    label: str = typer.Option("label", help=HELP["label"]),
    dataset: str | None = typer.Option(None, help="dataset name in the table; default every dataset"),
    slides: str | None = typer.Option(None, help="slides:DIR of the cohort, for attention heatmaps of test slides"),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="head options, e.g. epeg_k=15, region_num=8 (KEY=VALUE, repeatable)"
    ),
    db: str | None = typer.Option(None, help=HELP["db"]),
    weights: str | None = typer.Option(None, help=HELP["weights"]),
    name: str | None = typer.Option(None, help=HELP["registered_name"]),
    alias: str = typer.Option("champion", help=HELP["alias"]),
    tracking_uri: str | None = typer.Option(None, help=HELP["tracking_uri"]),
) -> None:
    """Pathology: a MIL slide head on stored tile vectors, heatmaps in MLflow, registered as a slide classifier."""
    from embedforge.flows.params import SlideHeadParams

    params = SlideHeadParams.model_validate(
        {
            "encoder": encoder,
            "head": head,
            "label": label,
            "dataset": dataset,
            "slides": slides,
            "head_params": key_values(option),
            "db": db,
            "weights": weights,
            "registered_name": name,
            "alias": alias,
            "tracking_uri": tracking_uri,
        }
    )
    connect_prefect()
    from embedforge.flows.train import run_train_slide_head

    result = run_train_slide_head(params)
    print_training({**result, "models": {"tiles": result["model"]}}, params.tracking_uri)


def print_training(result: dict, tracking_uri: str | None = None) -> None:
    """What the head was fit and scored on, its metrics, the registered models and how to reach them."""
    split = result.get("split") or {}
    if split:
        console.print(f"train {split['n_train']} / test {split['n_test']} items")
        if "train_class_counts" in split:
            console.print(f"  train per class: {split['train_class_counts']}")
            console.print(f"  test per class:  {split['test_class_counts']}")
        if split.get("n_leaked_dropped"):
            leaked = ", ".join(result.get("leaked", [])[:5])
            console.print(f"[yellow]dropped {split['n_leaked_dropped']} test item(s) also in training[/]: {leaked}")
        if split.get("split_checks", "passed") != "passed":
            console.print(f"[yellow]split checks failed (--allow-small)[/]: {split['split_checks']}; alias not moved")
    table = Table("metric", "value")
    for key, value in sorted(result["metrics"].items()):
        table.add_row(key, f"{value:.3f}")
    console.print(table)
    uris = []
    for mode, m in result["models"].items():
        ref = f"@{m['alias']}" if m["alias"] else f"/{m['version']}"
        uris.append(f"models:/{m['registered_name']}{ref}")
        print_copyable(f"registered [bold]{m['registered_name']}[/] version {m['version']} ({mode} input): {uris[-1]}")
    from embedforge.tasks.tracking import where_the_run_is

    for line in where_the_run_is(result.get("run_id"), uris[-1] if uris else None, tracking_uri):
        console.print(line, soft_wrap=True)


def register_embedder(
    encoder: str = typer.Argument(..., help="registry key of the encoder, e.g. text/all-minilm-l6-v2"),
    weights: str | None = typer.Option(None, help="the encoder weights (directory or hub id; default its own)"),
    encoder_option: list[str] = typer.Option([], "--encoder-option", help="the encoder recipe KEY=VALUE"),
    name: str | None = typer.Option(None, help="registered model name (default ENCODER-embedder)"),
    alias: str = typer.Option("champion", help="alias the new version gets"),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: the data directory's store)"),
) -> None:
    """Register an encoder alone as a served model: raw input in, the vectors its tables hold out."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.embedder import register_embedder as register_it

    tracking = tracking_uri or Settings().mlflow_uri
    out = register_it(encoder=encoder, weights=weights, encoder_options=key_values(encoder_option),
                      registered_name=name, alias=alias, tracking_uri=tracking)  # fmt: skip
    ((column, model),) = out["models"].items()
    uri = f"models:/{model['registered_name']}@{model['alias']}"
    print_copyable(f"registered [bold]{model['registered_name']}[/] version {model['version']}: {column} in, "
                  f"{out['dim']}-d vector out: {uri}")  # fmt: skip
    print_copyable(f"serve it: embedforge serve {model['registered_name']}@{model['alias']}")
    from embedforge.tasks.tracking import where_the_run_is

    for line in where_the_run_is(out["run_id"], uri, tracking):
        console.print(line, soft_wrap=True)


def demo(speakers: int = typer.Option(40, min=4), utterances: int = typer.Option(4, min=1)) -> None:
    """Offline end-to-end job on embedded defaults: synthetic voices -> GE2E -> LanceDB -> MLflow head."""
    from embedforge.flows.progress import run_with_progress

    connect_prefect()
    from embedforge.flows.demo import run_demo, where_to_look
    from embedforge.registry.settings import Settings
    from embedforge.tasks.embed import plan_path
    from embedforge.tasks.store import table_name

    plan_file = plan_path(Settings().home / "shards", table_name("speech/ge2e"), "demo-voxceleb")
    result = run_demo(
        speakers, utterances, progress=lambda work: run_with_progress(work, plan_file, "embedding with speech/ge2e")
    )
    print_summary(result["embed"])
    print_training(result["train"])
    for line in where_to_look(result):
        print_copyable(line)


def predict(
    slide: Path = typer.Argument(..., exists=True, dir_okay=False, help="a whole-slide image (.svs, .tif, .ndpi, ...)"),
    model: str = typer.Option(..., "--model", help="a registered slide classifier: NAME@ALIAS, NAME/VERSION or URI"),
    heatmap: Path | None = typer.Option(None, "--heatmap", help="also draw the attention over the slide (PNG)"),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: the data directory's store)"),
) -> None:
    """A slide in, a diagnosis out: tiled and embedded the way the head was trained, then classified locally."""
    from mlflow.exceptions import MlflowException

    from embedforge.modalities.base import BadRequest, ItemError
    from embedforge.tasks.slide_predict import predict_slide

    uri = model if model.startswith(("models:/", "runs:/")) else f"models:/{model}"
    try:
        with terminal_bar(f"predicting {slide.name}") as tick:
            answer = predict_slide(uri, str(slide), tracking_uri, str(heatmap) if heatmap else None, progress=tick)
    except (BadRequest, ItemError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except MlflowException as exc:  # no such model or version: its message, not a trace
        typer.echo(f"error: {model}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    p = answer["probabilities"][answer["label"]]
    console.print(f"[bold]{slide.name}[/]: {answer['label']} (p = {p:.3f}) from {answer['tiles']} tissue tiles")
    console.print("  " + ", ".join(f"p({c}) = {v:.3f}" for c, v in answer["probabilities"].items()))
    table = Table("rank", "x", "y", "tile (level-0 px)", "attention", title="most-attended tiles")
    for rank, t in enumerate(answer["top_tiles"], 1):
        table.add_row(str(rank), str(t["x"]), str(t["y"]), str(t["extent"]), f"{t['attention']:.4f}")
    console.print(table)
    if answer.get("heatmap"):
        print_copyable(f"heatmap written to {answer['heatmap']}")


def register(app: typer.Typer) -> None:
    """Attach the core commands to the ``embedforge`` app."""
    for command in (encoders, modalities, embed, search, failures, demo, predict):
        app.command()(command)
    app.command("register-embedder")(register_embedder)
    app.add_typer(train_app, name="train")
