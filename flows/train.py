"""The training flows: one head on one label (``train-head``), or a modality's registered recipe (``train-recipe``,
and the typed forms of the built-in ones); one task over stored vectors each, a summary artifact in the UI."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from embedforge.flows.params import HeightCelebParams, SlideHeadParams, TrainHeadParams
from embedforge.registry.params import StrictParams
from embedforge.registry.settings import Settings
from embedforge.tasks.recipes import train_recipe
from embedforge.tasks.retry import transient
from embedforge.tasks.tracking import where_markdown
from embedforge.tasks.train_head import train_head


def _stores(params: StrictParams) -> dict[str, Any]:
    """Where a head reads vectors and logs: the parameters' ``db`` and ``tracking_uri``, else this worker's
    settings (a recipe without those fields always uses the settings)."""
    settings = Settings()
    db, tracking = getattr(params, "db", None), getattr(params, "tracking_uri", None)
    return {
        "db_uri": db or settings.lancedb_uri,
        "tracking_uri": tracking or settings.mlflow_uri,
        "artifact_root": settings.mlflow_artifacts if not tracking else None,
    }


train_recipe_task = task(name="train-recipe", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(
    train_recipe
)


async def _recipe_state(name: str, params: StrictParams) -> State:
    """One recipe run as a task, its summary as an artifact, its one line as the final state's message."""
    stores = _stores(params)
    result = train_recipe_task(recipe=name, params=params.model_dump(), **stores)
    await acreate_markdown_artifact(result["markdown"], key=name.replace("/", "-").replace("_", "-").lower())
    return Completed(message=result["message"], data=result)


@flow(name="train-recipe")
async def train_recipe_flow(recipe: str, params: dict[str, Any] | None = None) -> State:
    """Any modality's registered training recipe (``embedforge train recipes`` lists them), by name.

    The training flows are async, as ``embed`` is, so the engine does not wait on its heartbeat thread at exit
    (Prefect 3.9 joins it after up to a second's sleep: ~1 s a run, sync).
    """
    from embedforge.registry.recipes import recipe as lookup

    return await _recipe_state(recipe, lookup(recipe).params.model_validate(params or {}))


@flow(name="train-heightceleb")
async def train_heightceleb_flow(params: HeightCelebParams) -> State:
    """The ``speech/heightceleb`` recipe with its typed form. Heads train on stored features only."""
    return await _recipe_state("speech/heightceleb", params)


def run_recipe(name: str, params: StrictParams) -> dict[str, Any]:
    """Run a recipe's flow in this process (its typed flow where it has one); the Completed state's data."""
    flows: dict[str, Any] = {
        "speech/heightceleb": train_heightceleb_flow,
        "pathology/slide-head": train_slide_head_flow,
    }
    from prefect.utilities.asyncutils import run_coro_as_sync

    run = flows[name](params) if name in flows else train_recipe_flow(name, params.model_dump())
    result: Any = run_coro_as_sync(run)
    return result


def run_train(params: HeightCelebParams) -> dict[str, Any]:
    """Run the HeightCeleb flow in this process; the caller gets the data of the Completed state it returns."""
    return run_recipe("speech/heightceleb", params)


train_head_task = task(name="train-head", retries=1, retry_delay_seconds=5, retry_condition_fn=transient)(train_head)


@flow(name="train-head")
async def train_head_flow(params: TrainHeadParams) -> State:
    """Any modality's head, trained on stored features only, registered for serving."""
    result = train_head_task(
        **_stores(params),
        encoder=params.encoder,
        head=params.head,
        label=params.learned,
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
    where = where_markdown(result, _stores(params)["tracking_uri"])
    await acreate_markdown_artifact(
        f"{params.head} on {params.encoder}: {metrics}\n\nregistered: {models}\n\n{where}", key="head"
    )
    return Completed(message=f"{metrics}; registered {models}", data=result)


def run_train_head(params: TrainHeadParams) -> dict[str, Any]:
    """Run the flow in this process and return its data."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    result: Any = run_coro_as_sync(train_head_flow(params))
    return result


@flow(name="train-slide-head")
async def train_slide_head_flow(params: SlideHeadParams) -> State:
    """The ``pathology/slide-head`` recipe with its typed form: stored tile vectors only, a slide classifier out."""
    return await _recipe_state("pathology/slide-head", params)


def run_train_slide_head(params: SlideHeadParams) -> dict[str, Any]:
    """Run the flow in this process and return its data."""
    return run_recipe("pathology/slide-head", params)
