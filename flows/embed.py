"""The embed flow: plan against the store, one task per shard on the chosen runner, a summary artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.client.schemas.objects import State
from prefect.context import AsyncClientContext, SyncClientContext
from prefect.futures import as_completed
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from embedforge.flows.params import EmbedParams, RunnerParams
from embedforge.modalities.runtime import resolve_batch, resolve_device
from embedforge.registry.settings import Settings
from embedforge.tasks.embed import ShardResult, embed_shard, load_plan, plan_embedding
from embedforge.tasks.report import embed_summary, summary_markdown
from embedforge.tasks.retry import transient

# The plain functions as Prefect tasks: retried on transient errors only (a wrong dataset is not retried).
plan_task = task(name="plan-embedding", retries=2, retry_delay_seconds=2, retry_condition_fn=transient)(plan_embedding)
embed_shard_task = task(name="embed-shard", retries=2, retry_delay_seconds=2, retry_condition_fn=transient)(embed_shard)


def _sync(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a Prefect artifact function synchronously (``async_dispatch`` takes ``_sync``; the stubs omit it)."""
    return fn(**kwargs, _sync=True)


def task_runner(runner: RunnerParams) -> Any:
    """Threads by default; Prefect's DaskTaskRunner for scale-out (typed Any: Prefect's runner generics disagree)."""
    if runner.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": runner.workers, "threads_per_worker": 1, "processes": True})
    return ThreadPoolTaskRunner(max_workers=runner.workers)


def shards_at_once(runner: RunnerParams) -> int:
    """Shards that share this machine's cores at once: the threads, or the local Dask worker processes.

    A remote cluster's workers have their own cores: each shard there gets its worker's share of them.
    """
    return 1 if runner.dask_address else runner.workers


def submit_shards(*, shards: list[str], params: EmbedParams, db: str) -> list[ShardResult]:
    """One task per shard on the current flow's runner, with a progress artifact (unless the CLI draws a bar)."""
    # Task runs copy the submitting context, and the progress calls find it too: one client serves them all.
    with SyncClientContext.get_or_create():
        progress = None
        if params.progress_artifact:
            progress = _sync(create_progress_artifact, progress=0.0, description=f"{len(shards)} shards to embed")
        futures = [
            embed_shard_task.submit(
                shard_path=path,
                encoder=params.encoder,
                db_uri=db,
                weights=params.weights,
                batch_size=resolve_batch(params.batch_size, params.device),
                device=params.device,
                encoder_options=params.encoder_options,
                concurrent=shards_at_once(params.runner),
            )
            for path in shards
        ]
        results, shown = [], time.monotonic()
        for done in as_completed(futures):
            results.append(done.result())
            if progress is None:
                continue
            if time.monotonic() - shown > 1.0 or len(results) == len(futures):  # at most one API call a second
                _sync(update_progress_artifact, artifact_id=progress, progress=100.0 * len(results) / len(futures))
                shown = time.monotonic()
    return results


@flow(name="embed-shards")
async def embed_shards_flow(shards: list[str], params: EmbedParams, db: str) -> list[ShardResult]:
    """The shards on another task runner (Dask, more threads): a subflow, since a run's runner is fixed.
    Async, as its parent is: a sync subflow waits ~1 s on its heartbeat thread at exit."""
    return submit_shards(shards=shards, params=params, db=db)


@flow(name="embed", log_prints=True, task_runner=task_runner(RunnerParams(workers=1)))
async def embed_flow(params: EmbedParams) -> State:
    """Wire plan -> shard tasks (on the runner the parameters ask for) -> summary; shards resume on their own.

    Async so the engine does not wait on its heartbeat thread at exit (about 1 s a run, sync).
    """
    settings = Settings()
    db = params.db or settings.lancedb_uri
    device = resolve_device(params.device)  # tasks record the real device and batch size
    params = params.model_copy(update={"device": device, "batch_size": resolve_batch(params.batch_size, device)})
    work = str(settings.home / "shards")
    plan = (
        load_plan(params.plan)
        if params.plan
        else plan_task(
            dataset=params.dataset,
            encoder=params.encoder,
            db_uri=db,
            work_dir=work,
            weights=params.weights,
            shard_size=params.shard_size,
            dataset_name=params.dataset_name,
            options=params.options,
            encoder_options=params.encoder_options,
        )
    )
    results = []
    if plan.shards and params.runner == RunnerParams():
        results = submit_shards(shards=plan.shards, params=params, db=db)
    elif plan.shards:
        results = await embed_shards_flow.with_options(task_runner=task_runner(params.runner))(
            shards=plan.shards, params=params, db=db
        )
    summary = dict(embed_summary(plan, results, db), device=params.device, batch_size=params.batch_size)
    await acreate_markdown_artifact(
        summary_markdown(summary, params.encoder), key="embed-summary", description="embed run summary"
    )
    message = "embedded {embedded}, reused {reused}, skipped {skipped}, failed {failed}".format(**summary)
    get_run_logger().info(message)
    return Completed(message=message, data=summary)


def run_embed(params: EmbedParams) -> dict[str, Any]:
    """Run the embed flow in this process (the code a deployment runs) on a plan made first, without Prefect.

    As in the CLI, a rerun with nothing to do returns its summary without a flow run: a flow and a task run are
    ~0.2 s of Prefect's own (its API calls and clients), more than the plan itself. With work, the flow takes the
    plan file, so the dataset is scanned once. The final state's data.
    """
    from prefect.utilities.asyncutils import run_coro_as_sync

    from embedforge.flows.progress import plan_first

    if not params.plan:
        nothing, planned = plan_first(params)
        if nothing is not None:
            return nothing
        params = params.model_copy(update={"plan": planned})
    return run_coro_as_sync(_with_clients(embed_flow(params)))


async def _with_clients(run: Any) -> Any:
    """Await a flow with one async and one sync Prefect client for all of it.

    Prefect's engines create a client where none is in context (the flow's, the result-storage lookup's, the
    tasks'), each building an SSL context from certifi's bundle (~25 ms): a no-op rerun paid for three.
    """
    async with AsyncClientContext.get_or_create():
        with SyncClientContext.get_or_create():
            return await run
