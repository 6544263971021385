"""The train-head flow: one task over stored vectors, a summary artifact in the UI."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from embedforge.flows.params import HeightCelebParams, SlideHeadParams, TrainHeadParams
from embedforge.registry.settings import Settings
from embedforge.tasks.retry import transient
from embedforge.tasks.train import train_heightceleb
from embedforge.tasks.train_head import train_head


def _stores(params: HeightCelebParams | TrainHeadParams | SlideHeadParams) -> dict[str, Any]:
    """Where a head reads vectors and logs: the parameters, else this worker's settings."""
    settings = Settings()
    return {
        "db_uri": params.db or settings.lancedb_uri,
        "tracking_uri": params.tracking_uri or settings.mlflow_uri,
        "artifact_root": settings.mlflow_artifacts if not params.tracking_uri else None,
    }


train_heightceleb_task = task(name="train-heightceleb", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(
    train_heightceleb
)


@flow(name="train-heightceleb")
def train_heightceleb_flow(params: HeightCelebParams) -> State:
    """Heads train on stored features only: no encoder runs here."""
    result = train_heightceleb_task(
        **_stores(params),
        encoder=params.encoder,
        dataset=params.dataset,
        timit_dataset=params.timit_dataset,
        weights=params.weights,
        regressor=params.regressor,
        registered_name=params.registered_name,
        alias=params.alias,
    )
    rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in sorted(result["metrics"].items()))
    models = ", ".join(f"{m['registered_name']} v{m['version']}" for m in result["models"].values())
    create_markdown_artifact(
        f"| metric | value |\n|---|---|\n{rows}\n\nregistered: {models}\n\n{_where(result)}",
        key="heightceleb-metrics",
    )
    m = result["metrics"]
    return Completed(
        message=f"test MAE {m['test_mae']:.2f} cm (training-mean {m['test_mae_mean']:.2f}), "
        f"sex accuracy {m['test_sex_accuracy']:.2f}; registered {models}",
        data=result,
    )


def run_train(params: HeightCelebParams) -> dict[str, Any]:
    """Run the flow in this process; the caller gets the data of the Completed state it returns."""
    result: Any = train_heightceleb_flow(params)  # Prefect unwraps a returned state into its data
    return result


train_head_task = task(name="train-head", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(train_head)


@flow(name="train-head")
def train_head_flow(params: TrainHeadParams) -> State:
    """Any modality's head, trained on stored features only, registered for serving."""
    result = train_head_task(
        **_stores(params),
        encoder=params.encoder,
        head=params.head,
        label=params.label,
        dataset=params.dataset,
        weights=params.weights,
        encoder_options=dict(params.encoder_options),
        registered_name=params.registered_name,
        alias=params.alias,
        experiment=params.experiment,
        allow_small=params.allow_small,
        subset=params.subset,
    )
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result["metrics"].items()))
    models = ", ".join(f"{m['registered_name']} v{m['version']}" for m in result["models"].values())
    where = _where(result, _stores(params)["tracking_uri"])
    create_markdown_artifact(
        f"{params.head} on {params.encoder}: {metrics}\n\nregistered: {models}\n\n{where}", key="head"
    )
    return Completed(message=f"{metrics}; registered {models}", data=result)


def run_train_head(params: TrainHeadParams) -> dict[str, Any]:
    """Run the flow in this process and return its data."""
    result: Any = train_head_flow(params)
    return result


@flow(name="train-slide-head")
def train_slide_head_flow(params: SlideHeadParams) -> State:
    """Slide heads train on stored tile vectors only; the model serves bags of tile vectors."""
    from embedforge.registry.encoders import coerce_options
    from embedforge.tasks.train_slides import train_slide_head

    result = task(name="train-slide-head", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(
        train_slide_head
    )(
        **_stores(params),
        encoder=params.encoder,
        dataset=params.dataset,
        head=params.head,
        label=params.label,
        weights=params.weights,
        params=coerce_options(dict(params.head_params)),
        slides=params.slides,
        registered_name=params.registered_name,
        alias=params.alias,
    )
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result["metrics"].items()))
    create_markdown_artifact(
        f"{params.head} on {params.encoder}: {metrics}\n\n{_where(result, _stores(params)['tracking_uri'])}",
        key="slide-head",
    )
    return Completed(message=metrics, data=result)


def run_train_slide_head(params: SlideHeadParams) -> dict[str, Any]:
    """Run the flow in this process and return its data."""
    result: Any = train_slide_head_flow(params)
    return result


def _where(result: dict[str, Any], tracking_uri: str | None = None) -> str:
    """The MLflow run (its UI address, or how to open the store) and how to load the registered model."""
    from embedforge.tasks.tracking import where_the_run_is

    models = list((result.get("models") or {}).values()) or ([result["model"]] if result.get("model") else [])
    uri = None
    if models:
        m = models[-1]
        uri = f"models:/{m['registered_name']}" + (f"@{m['alias']}" if m.get("alias") else f"/{m['version']}")
    return "\n\n".join(
        f"`{line}`" for line in where_the_run_is(result.get("run_id"), uri, tracking_uri or result.get("tracking_uri"))
    )
