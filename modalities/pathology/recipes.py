"""Pathology's training recipe: a multiple-instance head over each slide's bag of stored tile vectors.

Declared here with its parameters; the training (bags from the store, an MLflow run with attention heatmaps, a
registered slide classifier) is ``embedforge.tasks.train_slides:run_slide_head``, imported when the recipe runs.
"""

from __future__ import annotations

from pydantic import Field

from embedforge.registry.params import HELP, StrictParams
from embedforge.registry.recipes import Recipe, register_recipe


class SlideHeadParams(StrictParams):
    """Train a multiple-instance slide head on stored tile vectors; registered as a slide classifier."""

    encoder: str = Field("pathology/efficientnet-lite0", description="encoder whose stored tile vectors form bags")
    head: str = Field("mil/abmil", description="mil/mean, mil/abmil or mil/r2t")
    label: str = Field("label", description=HELP["label"])
    dataset: str | None = Field(None, description="dataset name in the table; default every dataset")
    slides: str | None = Field(None, description="slides:DIR of the cohort, for attention heatmaps of test slides")
    db: str | None = Field(None, description=HELP["db"])
    weights: str | None = Field(None, description=HELP["weights"])
    head_params: dict[str, str] = Field(default_factory=dict, description="head options, e.g. epeg_k=15, region_num=8")
    registered_name: str | None = Field(None, description=HELP["registered_name"])
    alias: str = Field("champion", description=HELP["alias"])
    tracking_uri: str | None = Field(None, description=HELP["tracking_uri"])


SLIDE_HEAD = register_recipe(
    Recipe(
        name="pathology/slide-head",
        params=SlideHeadParams,
        run="embedforge.tasks.train_slides:run_slide_head",
        description="slide labels from bags of tile vectors (mean, AB-MIL or R2T + AB-MIL), attention heatmaps",
    )
)
