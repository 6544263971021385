"""The offline demo: synthetic speakers -> real GE2E vectors in LanceDB -> a registered height head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedforge.flows.embed import run_embed
from embedforge.flows.params import EmbedParams, HeightCelebParams
from embedforge.flows.train import run_train
from embedforge.registry.settings import Settings


def run_demo(
    n_speakers: int = 40, utts_per_speaker: int = 4, encoder: str = "speech/ge2e", progress=None
) -> dict[str, Any]:
    """Build the voices once, then embed (cached on rerun) and train; returns what to show the user."""
    from embedforge.modalities.speech.synth import make_voxceleb_dataset

    settings = Settings()
    root = settings.home / "demo" / "voxceleb"
    table = root / "height_celeb.csv"
    if not table.exists():
        table = make_voxceleb_dataset(root, n_speakers=n_speakers, utts_per_speaker=utts_per_speaker, seed=7)
    params = EmbedParams(
        dataset=f"voxceleb:{root}",
        encoder=encoder,
        db=None,  # the configured store, resolved in the flow: never a parameter Prefect keeps
        dataset_name="demo-voxceleb",
        options={"heightceleb": str(table)},
        shard_size=32,
    )
    embed = progress(lambda: run_embed(params)) if progress else run_embed(params)
    trained = run_train(HeightCelebParams(encoder=encoder, dataset="demo-voxceleb", registered_name="heightceleb-demo"))
    return {
        "data": str(root),
        "embed": embed,
        "train": trained,
        "db": settings.lancedb_uri,
        "tracking_uri": settings.mlflow_uri,
        "home": str(settings.home),
    }


def where_to_look(result: dict[str, Any]) -> list[str]:
    """The commands a user runs next."""
    sample = next(Path(result["data"]).rglob("*.wav"))
    return [
        f"vector table   : {result['db']}/{result['embed']['table']}.lance",
        f"MLflow UI      : mlflow ui --backend-store-uri {result['tracking_uri']} --port 5000",
        f"search         : embedforge search --encoder speech/ge2e --query {sample} -k 5",
        "serve the head : embedforge serve heightceleb-demo@champion",
    ]
