"""Flow parameters as strict pydantic models, so the Prefect UI renders a typed form."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from embedforge.modalities.pathology.recipes import SlideHeadParams
from embedforge.modalities.speech.recipes import HeightCelebParams
from embedforge.registry.params import HELP, StrictParams

__all__ = ["HeightCelebParams", "SlideHeadParams"]  # recipes' parameters, declared by their modalities


class RunnerParams(StrictParams):
    """Where shard tasks run: threads in the flow's process, or a Dask cluster."""

    kind: Literal["thread", "dask"] = Field("thread", description="task runner: thread or dask")
    workers: int = Field(1, ge=1, le=256, description="threads, or local Dask workers")
    dask_address: str | None = Field(None, description="scheduler address of an existing Dask cluster")


class EmbedParams(StrictParams):
    """One dataset through one frozen encoder into the vector store."""

    dataset: str = Field(..., description="adapter:argument, e.g. voxceleb:/data/vox1 or ucr:GunPoint")
    encoder: str = Field(..., description="registered encoder, e.g. speech/ge2e")
    db: str | None = Field(None, description=HELP["db"])
    weights: str | None = Field(None, description=HELP["weights"])
    dataset_name: str | None = Field(None, description="name of the dataset in the table; default from the argument")
    options: dict[str, str] = Field(default_factory=dict, description="adapter options, e.g. heightceleb=PATH")
    encoder_options: dict[str, str] = Field(default_factory=dict, description=HELP["encoder_options"])
    shard_size: int = Field(256, ge=1, le=100_000, description="items per shard task (a killed run redoes at most one)")
    batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="items per encoder forward; default 16 on CPU, 64 on a GPU (the run records it)",
    )
    device: str = Field("auto", description="torch device; auto: CUDA when present, else CPU (the run records which)")
    runner: RunnerParams = Field(default_factory=RunnerParams)
    progress_artifact: bool = Field(True, description="a progress artifact in the UI (off when the CLI draws a bar)")
    # Internal, absent from the UI's form: the plan file the CLI just wrote for these same parameters, so the flow
    # does not scan and hash the dataset a second time.
    plan: SkipJsonSchema[str | None] = Field(None, description="plan file the CLI wrote for these parameters")

    @field_validator("dataset_name")
    @classmethod
    def _safe_name(cls, value: str | None) -> str | None:
        """Refused here, before any work, rather than by a filter after the embedding is done."""
        from embedforge.tasks.filters import check_name

        return value if value is None else check_name(value)


class TrainHeadParams(StrictParams):
    """Train one registered head on stored vectors of any modality; registered for serving."""

    encoder: str = Field(..., description="encoder whose stored vectors the head uses, e.g. video/efficientnet-lite0")
    head: str = Field("classify/logreg", description="registered head: classify/* or regress/*")
    label: str = Field("label", description=HELP["label"])
    db: str | None = Field(None, description=HELP["db"])
    weights: str | None = Field(None, description=HELP["weights"])
    encoder_options: dict[str, str] = Field(default_factory=dict, description=HELP["encoder_options"])
    dataset: str | None = Field(
        None, description="dataset name in the table; required when it holds several (a,b trains over several)"
    )
    registered_name: str | None = Field(None, description=HELP["registered_name"])
    alias: str = Field("champion", description=HELP["alias"])
    tracking_uri: str | None = Field(None, description=HELP["tracking_uri"])
    experiment: str = Field("heads", description="MLflow experiment")
    allow_small: bool = Field(
        False, description="train although a class lacks training items or the test set is tiny (never @champion)"
    )
    subset: str | None = Field(None, description="a manifest CSV (embedforge curate): train on its rows only")
    target: str | None = Field(None, description=HELP["target"])

    @model_validator(mode="after")
    def _target_is_for_regression(self):
        """A classifier given --target would silently learn --label instead: refused, naming both."""
        if self.target is not None and not self.head.startswith("regress/"):
            raise ValueError(f"--target {self.target!r} is what regress/* heads learn; {self.head} learns --label")
        return self

    @property
    def learned(self) -> str:
        """The label the head learns: --label for classifiers; for regress/* heads --target, else an explicit
        --label (as before --target existed), else the modality's default target (cardiac: heart_rate)."""
        if not self.head.startswith("regress/"):
            return self.label
        if self.target or "label" in self.model_fields_set:
            return self.target or self.label
        from embedforge.registry.modalities import modality_of_encoder
        from embedforge.registry.registry import RegistryError

        try:
            return modality_of_encoder(self.encoder).default_target or self.label
        except RegistryError:
            return self.label


class BenchmarkParams(StrictParams):
    """Encoders x datasets x augmentations x heads, scored on each dataset's test split."""

    modality: str = Field("timeseries", description="a registered modality: picks the default adapter and heads")
    encoders: list[str] = Field(
        default_factory=list, description="registered encoders; empty: the modality's default encoders"
    )
    datasets: list[str] = Field(
        default_factory=list,
        description="names the adapter knows (GunPoint), folders, or adapter:argument; empty: the modality's",
    )
    options: dict[str, str] = Field(default_factory=dict, description="dataset adapter options, e.g. chunks=rows")
    augment: list[str] = Field(default_factory=list, description="registered augmentations to combine (diff, stats)")
    transforms: list[str] = Field(
        default_factory=lambda: ["none"],
        min_length=1,
        description="compact-vector transforms of the features, fitted on train: none, whiten:K, pca:K, "
        "truncate:K, int8, binary (accuracy against bytes per vector)",
    )

    heads: list[str] = Field(default_factory=list, description="registered heads; empty: the modality's defaults")
    weights: dict[str, str] = Field(
        default_factory=dict, description="per encoder, a hub id or local directory of its weights"
    )
    label: str = Field("label", description=HELP["label"])
    target: str | None = Field(None, description=HELP["target"])
    db: str | None = Field(None, description=HELP["db"])
    tracking_uri: str | None = Field(None, description=HELP["tracking_uri"])
    experiment: str = Field("leaderboard", description="MLflow experiment")
    output_csv: str | None = Field(None, description="also write the leaderboard here")
    # Internal, absent from the UI's form: a file the cells append to as they finish, for the CLI's bar.
    progress: SkipJsonSchema[str | None] = Field(None, description="progress file the CLI reads")

    @field_validator("modality")
    @classmethod
    def _registered_modality(cls, name: str) -> str:
        """Only modalities in the registry (built-ins and plugins), named in the error."""
        from embedforge.registry.modalities import modality_names

        known = modality_names()
        if name not in known:
            raise ValueError(f"unknown modality {name!r}; registered: {', '.join(known)}")
        return name

    @field_validator("augment")
    @classmethod
    def _known_augmentations(cls, value: list[str]) -> list[str]:
        """Names in the AUGMENTATIONS registry (a plugin's too), not a fixed list."""
        from embedforge.registry.augmentations import AUGMENTATIONS
        from embedforge.registry.catalog import load_catalog

        load_catalog()
        for name in value:
            if name not in AUGMENTATIONS:
                raise ValueError(f"unknown augmentation {name!r}; registered: {', '.join(AUGMENTATIONS.names())}")
        return value

    @model_validator(mode="after")
    def _modality_defaults(self):
        """Encoders and datasets the modality names when none are given; an error where it has none."""
        from embedforge.registry.modalities import modality

        entry = modality(self.modality)
        self.encoders = self.encoders or list(entry.default_encoders)
        self.datasets = self.datasets or list(entry.default_datasets)
        for field, adapters in (("encoders", None), ("datasets", entry.adapters)):
            if not getattr(self, field):
                example = f" (e.g. {adapters[0]}:DIR)" if adapters else ""
                raise ValueError(f"benchmark {self.modality}: name the {field}{example}; the modality has no default")
        return self

    @field_validator("transforms")
    @classmethod
    def _known_transforms(cls, value: list[str]) -> list[str]:
        """``pca:32`` and the like: a registered transform, and K a positive whole number where given."""
        from embedforge.registry.transforms import TRANSFORMS

        for spec in value:
            name, sep, k = spec.partition(":")
            if name != "none" and (name not in TRANSFORMS or (sep and not (k.isdigit() and int(k) > 0))):
                raise ValueError(f"unknown transform {spec!r}: use none, or one of {TRANSFORMS.names()} with :K")
        return value


Analysis = Literal["dups", "clusters", "outliers", "labels", "map", "quality"]
ANALYSES: tuple[Analysis, ...] = ("dups", "clusters", "outliers", "labels", "map", "quality")


class AnalyzeParams(StrictParams):
    """Look at a table's stored vectors: near-duplicates, clusters, outliers, label issues, the space, a map."""

    encoder: str | None = Field(
        None, description="encoder whose table is analysed, e.g. text/all-minilm-l6-v2; default every table"
    )
    dataset: str | None = Field(None, description="dataset name in the table (a,b for several); default all")
    what: list[Analysis] = Field(
        default_factory=lambda: list(ANALYSES),
        min_length=1,
        description="the analyses to run: dups, clusters, outliers, labels, map, quality",
    )
    label: str = Field("label", description=HELP["label"])
    threshold: float = Field(0.95, gt=0.0, le=1.0, description="cosine similarity from which two rows are copies")
    k: int = Field(10, ge=2, le=100, description="neighbours per row in the graph (duplicates, outliers, hubness)")
    clusters: Literal["kmeans", "hdbscan"] = Field("kmeans", description="k-means (k by silhouette) or HDBSCAN")
    n_clusters: int | None = Field(None, ge=2, le=1000, description="k-means' k; default chosen by silhouette")
    map: Literal["umap", "pca"] = Field("umap", description="the 2-D layout of the map: umap or pca")
    map_points: int = Field(20_000, ge=10, le=200_000, description="rows drawn on the map (a seeded sample above)")
    seed: int = Field(0, description="seed of every sampled or randomised step")
    db: str | None = Field(None, description=HELP["db"])
    weights: str | None = Field(None, description=HELP["weights"])
    encoder_options: dict[str, str] = Field(default_factory=dict, description=HELP["encoder_options"])
    output: str | None = Field(None, description="folder for the CSV/JSON/HTML/PNG files; default HOME/analysis/")
    tracking_uri: str | None = Field(None, description=HELP["tracking_uri"])

    def knobs(self) -> dict[str, object]:
        """The analyses' own parameters (``tasks.analyze.Knobs``)."""
        names = ("label", "threshold", "k", "clusters", "n_clusters", "map", "map_points", "seed")
        return {n: getattr(self, n) for n in names}
