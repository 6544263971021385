"""The analyze flow: one task over a table's stored vectors; a summary artifact with the counts and the map."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from embedforge.flows.params import AnalyzeParams
from embedforge.registry.settings import Settings
from embedforge.tasks.analysis_report import report
from embedforge.tasks.retry import transient
from embedforge.tasks.store import VectorStore

analyze_task = task(name="analyze", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(report)


def markdown(s: dict[str, Any]) -> str:
    """The flow run's artifact: what was found, and where the files and the map are."""
    lines = [f"## {s['encoder']}: {s['rows']} rows", f"table `{s['table']}__analysis` (version {s['version']})", ""]
    if "duplicates" in s:
        d = s["duplicates"]
        lines.append(f"- duplicate groups: {d['groups']} ({d['redundant_rows']} redundant rows)")
        lines.append(f"- groups across train and test (leaks): **{d['leaking_groups']}**")
        lines += [f"  - leak: {', '.join(g)}" for g in d["leaks"]]
    if "clusters" in s:
        sizes = ", ".join(f"{c['cluster']}: {c['size']}" for c in s["clusters"]["largest"])
        lines.append(f"- clusters: {s['clusters']['count']} (largest {sizes})")
    if "label_issues" in s:
        lines.append(f"- label issues: {s['label_issues']['count']}")
    if "outliers" in s:
        lines.append(f"- most isolated: {', '.join(s['outliers'])}")
    for k, v in s.get("quality", {}).items():
        lines.append(f"- {k}: {v:.3f}")
    lines += ["", f"files in `{s['output']}`: {', '.join(s['files'])}"]
    if "map.html" in s["files"]:
        lines.append(f"map: file://{s['output']}/map.html")
    return "\n".join(lines)


def _tables(params: AnalyzeParams, db_uri: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(encoder, table) of the encoder asked for (its table from weights and options), or of every table in the
    store whatever weights or recipe made it (the weekly run), read off each table's recorded identity; tables
    whose identity names no encoder are listed as skipped."""
    if params.encoder:
        return [(params.encoder, None)], []
    store = VectorStore(db_uri)
    names = {t: str(store.identity(t).get("name", "")) for t in store.tables()}
    return sorted((n, t) for t, n in names.items() if n), sorted(t for t, n in names.items() if not n)


@flow(name="analyze")
async def analyze_flow(params: AnalyzeParams) -> State:
    """Duplicates, clusters, outliers, label issues, quality and a map of stored vectors, one task per table.

    Async so the engine does not wait on its heartbeat thread at exit (~1 s a run, sync)."""
    settings = Settings()
    db_uri = params.db or settings.lancedb_uri
    tables, skipped = _tables(params, db_uri)
    results = []
    for encoder, table in tables:
        result = analyze_task(
            db_uri=db_uri,
            encoder=encoder,
            table=table,
            dataset=params.dataset,
            what=list(params.what),
            knobs=params.knobs(),
            weights=params.weights,
            options=dict(params.encoder_options) or None,
            output=params.output if len(tables) == 1 else None,
            tracking_uri=params.tracking_uri or settings.mlflow_uri,
            artifact_root=settings.mlflow_artifacts if not params.tracking_uri else None,
        )
        results.append(result)
    note = "".join(f"\n\nskipped `{t}` (it records no encoder)" for t in skipped)
    await acreate_markdown_artifact("\n\n".join(markdown(r) for r in results) + note or "no tables", key="analysis")
    computed = "; ".join(f"{r['encoder']}: {', '.join(r['computed']) or 'up to date'}" for r in results)
    return Completed(message=computed or "no tables to analyse", data={"tables": results, "skipped": skipped})


def run_analyze(params: AnalyzeParams) -> dict[str, Any]:
    """Run the flow in this process and return its data."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    result: Any = run_coro_as_sync(analyze_flow(params))
    return result
