"""The leaderboard flow: embed every (encoder, dataset) through the cached embed flow, then score heads."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from embedforge.flows.embed import embed_flow, task_runner
from embedforge.flows.params import BenchmarkParams, EmbedParams, RunnerParams
from embedforge.registry.modalities import modality
from embedforge.registry.settings import Settings
from embedforge.tasks.embed import dataset_name_for, pending_count
from embedforge.tasks.leaderboard import augmentation_sets, publish, score_pair, variant_encoder
from embedforge.tasks.progress import append_event
from embedforge.tasks.resolve import dataset_ref, recipe_for, weights_for
from embedforge.tasks.retrieval import score_retrieval
from embedforge.tasks.retry import transient

score_task = task(name="score-heads", retries=1, retry_delay_seconds=2, retry_condition_fn=transient)(score_pair)
retrieval_task = task(name="score-retrieval", retries=1, retry_delay_seconds=2, retry_condition_fn=transient)(
    score_retrieval
)
publish_task = task(name="publish-leaderboard", retries=1, retry_delay_seconds=2, retry_condition_fn=transient)(publish)


@flow(name="benchmark", task_runner=task_runner(RunnerParams(workers=2)))
async def benchmark_flow(params: BenchmarkParams) -> State:
    """Embeddings are cached in LanceDB and scores in MLflow, so a rerun recomputes nothing."""
    settings = Settings()
    db, tracking = params.db or settings.lancedb_uri, params.tracking_uri or settings.mlflow_uri
    entry = modality(params.modality)
    heads, target = params.heads or list(entry.default_heads), params.target or entry.default_target
    futures = []
    for name in params.datasets:
        ref = dataset_ref(name=name, modality_name=params.modality)
        ds_name = dataset_name_for(ref, None)
        for encoder in params.encoders:
            weights = weights_for(encoder=encoder, ref=ref, weights=params.weights)
            recipe = recipe_for(encoder=encoder, ref=ref)
            if ref.partition(":")[0] in entry.retrieval_adapters:  # queries rank a corpus: no heads
                await _embed_if_pending(
                    ref=ref,
                    encoder=encoder,
                    db=db,
                    weights=weights,
                    name=ds_name,
                    recipe=recipe,
                    options=params.options,
                    progress=params.progress,
                )
                futures.append(
                    retrieval_task.submit(
                        db=db,
                        encoder=encoder,
                        weights=weights,
                        dataset_ref=ref,
                        dataset_name=ds_name,
                        tracking_uri=tracking,
                        experiment=params.experiment,
                        options=recipe,
                        transforms=list(params.transforms),
                        progress=params.progress,
                    )
                )
                continue
            for variant in _variants(encoder, list(params.augment)):
                await _embed_if_pending(
                    ref=ref,
                    encoder=variant,
                    db=db,
                    weights=weights,
                    name=ds_name,
                    recipe=recipe,
                    options=params.options,
                    progress=params.progress,
                )
            futures.append(
                score_task.submit(
                    db=db,
                    encoder=encoder,
                    weights=weights,
                    dataset_ref=ref,
                    dataset_name=ds_name,
                    augment=list(params.augment),
                    heads=heads,
                    label=params.label,
                    target=target,
                    tracking_uri=tracking,
                    experiment=params.experiment,
                    options=recipe,
                    transforms=list(params.transforms),
                    progress=params.progress,
                )
            )
    rows = [row for f in futures for row in f.result()]
    out = publish_task(rows=rows, tracking_uri=tracking, experiment=params.experiment, output_csv=params.output_csv)
    await acreate_markdown_artifact(out["markdown"], key="leaderboard", description="test scores per cell")
    fresh = sum(not r["cached"] for r in rows)
    return Completed(
        message=f"{len(rows)} cells: {fresh} scored, {len(rows) - fresh} from cache", data={"rows": rows, **out}
    )


def _variants(encoder: str, augment: list[str]) -> list[str]:
    """The encoder tables the augmentation combinations read (``-diff`` siblings), each once."""
    names = {variant_encoder(encoder, combo) for combo in augmentation_sets(augment)}
    return sorted(n for n in names if n is not None)


async def _embed_if_pending(
    *,
    ref: str,
    encoder: str,
    db: str,
    weights: str | None,
    name: str,
    recipe: dict,
    options: dict | None = None,
    progress: str | None = None,
) -> None:
    """An embed run only where there is work: new or changed items (adapter ``options`` passed through)."""
    pending = pending_count(
        dataset=ref, encoder=encoder, db_uri=db, weights=weights, dataset_name=name, encoder_options=recipe,
        options=options,
    )  # fmt: skip
    if pending:
        append_event(progress, event="embedding", encoder=encoder, dataset=name, items=pending)
        params = EmbedParams(
            dataset=ref,
            encoder=encoder,
            db=db,
            weights=weights,
            dataset_name=name,
            encoder_options=recipe,
            options=options or {},
            shard_size=512,
        )
        await embed_flow(params)


def run_benchmark(params: BenchmarkParams) -> dict[str, Any]:
    """Run the leaderboard flow in this process (the code path a deployment runs); the final state's data."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    return run_coro_as_sync(benchmark_flow(params))
