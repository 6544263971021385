"""The leaderboard flow: embed every (encoder, dataset) through the cached embed flow, then score heads."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from embedforge.flows.embed import embed_flow
from embedforge.flows.params import BenchmarkParams, EmbedParams
from embedforge.registry.settings import Settings
from embedforge.tasks.embed import dataset_name_for, pending_count
from embedforge.tasks.leaderboard import augmentation_sets, publish, score_pair, variant_encoder

DEFAULT_ADAPTER = {"timeseries": "ucr", "cardiac": "ecgsim", "speech": "voxceleb"}

score_task = task(score_pair, name="score-heads", retries=1, retry_delay_seconds=2)
publish_task = task(publish, name="publish-leaderboard", retries=1, retry_delay_seconds=2)


def dataset_ref(name: str, modality: str) -> str:
    """``GunPoint`` -> ``ucr:GunPoint``; ``/data/UCR/Wine`` -> ``ucr:/data/UCR/Wine``; ``kind:arg`` kept."""
    kind, sep, _ = name.partition(":")
    if sep and kind and "/" not in kind:
        return name
    return f"{DEFAULT_ADAPTER[modality]}:{name}"


def weights_for(encoder: str, ref: str, weights: dict[str, str]) -> str | None:
    """Fit-on-data encoders (MiniRocket) take the dataset as their weights; others the user's override."""
    from embedforge.registry.encoders import encoder_entry

    if "fit" in encoder_entry(encoder).spec.input:
        return ref
    return weights.get(encoder)


def recipe_for(encoder: str, ref: str) -> dict[str, str]:
    """Multichannel data needs a channel-wise encoder built for that many channels."""
    from embedforge.registry.datasets import open_dataset
    from embedforge.registry.encoders import encoder_entry

    spec_input = encoder_entry(encoder).spec.input
    if "channels" not in spec_input or "fit" in spec_input:
        return {}
    ds = open_dataset(ref)
    values = ds.load(ds.items()[0]).values
    channels = 1 if values.ndim == 1 else int(values.shape[0])
    return {"channels": str(channels)} if channels > 1 else {}


@flow(name="benchmark", task_runner=ThreadPoolTaskRunner(max_workers=2))
async def benchmark_flow(params: BenchmarkParams) -> dict[str, Any]:
    """Embeddings are cached in LanceDB and scores in MLflow, so a rerun recomputes nothing."""
    settings = Settings()
    db, tracking = params.db or settings.lancedb_uri, params.tracking_uri or settings.mlflow_uri
    futures = []
    for name in params.datasets:
        ref = dataset_ref(name, params.modality)
        ds_name = dataset_name_for(ref, None)
        for encoder in params.encoders:
            weights, recipe = weights_for(encoder, ref, params.weights), recipe_for(encoder, ref)
            for variant in sorted({variant_encoder(encoder, c) for c in augmentation_sets(params.augment)} - {None}):
                if pending_count(ref, variant, db, weights, ds_name, recipe):  # an embed run only if there is work
                    await embed_flow(
                        EmbedParams(
                            dataset=ref,
                            encoder=variant,
                            db=db,
                            weights=weights,
                            dataset_name=ds_name,
                            encoder_options=recipe,
                            shard_size=512,
                        )
                    )
            futures.append(
                score_task.submit(
                    db,
                    encoder,
                    weights,
                    ref,
                    ds_name,
                    list(params.augment),
                    params.heads,
                    params.label,
                    tracking,
                    params.experiment,
                    recipe,
                )
            )
    rows = [row for f in futures for row in f.result()]
    out = publish_task(rows, tracking, params.experiment, params.output_csv)
    create_markdown_artifact(out["markdown"], key="leaderboard", description="test accuracy per cell", _sync=True)
    fresh = sum(not r["cached"] for r in rows)
    return Completed(
        message=f"{len(rows)} cells: {fresh} scored, {len(rows) - fresh} from cache", data={"rows": rows, **out}
    )


def run_benchmark(params: BenchmarkParams) -> dict[str, Any]:
    """Run the leaderboard flow in this process (the code path a deployment runs)."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    return run_coro_as_sync(benchmark_flow(params))
