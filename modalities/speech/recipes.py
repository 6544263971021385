"""Speech's training recipe: HeightCeleb, a sex classifier then one height regression per sex (Mahajan et al.).

Declared here with its parameters; the training itself (stored vectors in, an MLflow run and two registered
models out) is ``embedforge.tasks.train:run_heightceleb``, imported only when the recipe runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from embedforge.registry.params import HELP, StrictParams
from embedforge.registry.recipes import Recipe, register_recipe


class HeightCelebParams(StrictParams):
    """Train the HeightCeleb head on vectors already in the store."""

    encoder: str = Field("speech/ecapa-voxceleb", description="encoder whose stored vectors the head uses")
    db: str | None = Field(None, description=HELP["db"])
    weights: str | None = Field(None, description=HELP["weights"])
    dataset: str | None = Field(None, description="dataset name in the table (VoxCeleb + HeightCeleb labels)")
    timit_dataset: str | None = Field(None, description="dataset name of TIMIT vectors for a cross-corpus score")
    regressor: Literal["pls", "ridge", "svr"] = Field("pls", description="per-sex height regressor: pls, ridge or svr")
    registered_name: str | None = Field(None, description=HELP["registered_name"])
    alias: str = Field("champion", description=HELP["alias"])
    tracking_uri: str | None = Field(None, description=HELP["tracking_uri"])


HEIGHTCELEB = register_recipe(
    Recipe(
        name="speech/heightceleb",
        params=HeightCelebParams,
        run="embedforge.tasks.train:run_heightceleb",
        description="speaker height (cm) and sex from speaker embeddings: sex classifier, then a regression per sex",
    )
)
