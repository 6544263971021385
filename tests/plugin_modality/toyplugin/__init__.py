"""A whole modality from a plugin alone: the ``toy`` modality, registered through the ``embedforge.plugins`` group.

Nothing in embedforge names it. A toy item is a ``*.toy`` text file (a ``toy v1`` line, then numbers); a folder of
them with ``labels.csv`` (id,kind,size,split) is a dataset; ``toy/stats`` is a tiny deterministic encoder; a served
model takes the file's bytes in the ``toy`` column.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Dataset, Encoder, EncoderSpec, Item, ItemError
from embedforge.registry.datasets import DATASETS
from embedforge.registry.encoders import ENCODERS, register_encoder
from embedforge.registry.modalities import MODALITIES, Examples, Modality, RawInput, register_modality
from embedforge.registry.params import StrictParams
from embedforge.registry.recipes import Recipe, register_recipe

HEADER = "toy v1"
SPEC = EncoderSpec(name="toy/stats", dim=6, input={"values": "1-D"}, weights="none", description="toy plugin")


@dataclass(frozen=True)
class Toy:
    """One toy reading: a 1-D float32 array."""

    values: np.ndarray


def parse_toy(data: bytes, name: str) -> Toy:
    """The bytes of a ``.toy`` file -> Toy, or an ItemError naming it (also the served raw-input decoder)."""
    try:
        head, _, body = data.decode("utf-8").partition("\n")
    except UnicodeDecodeError:
        raise ItemError(f"{name}: not a toy file (not text)") from None
    if head.strip() != HEADER:
        raise ItemError(f"{name}: not a toy file (first line is not {HEADER!r})")
    try:
        values = np.array([float(v) for v in body.split()], dtype=np.float32)
    except ValueError:
        raise ItemError(f"{name}: toy values are not numbers") from None
    if values.size == 0:
        raise ItemError(f"{name}: toy file holds no values")
    return Toy(values)


def read_toy(path: str) -> Toy:
    """A query file for ``embedforge search``."""
    try:
        return parse_toy(Path(path).read_bytes(), path)
    except OSError as exc:
        raise ItemError(f"{path}: cannot read ({exc})") from None


class ToyFolder(Dataset):
    """Every ``*.toy`` under a folder; ``labels.csv`` gives kind (class), size (number) and split."""

    modality = "toy"

    def __init__(self, root: str, **options) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"toy folder {root} does not exist")

    def items(self) -> list[Item]:
        meta = {}
        if (self.root / "labels.csv").exists():
            with open(self.root / "labels.csv") as f:
                meta = {r["id"]: r for r in csv.DictReader(f)}
        out = []
        for path in sorted(self.root.glob("*.toy")):
            m = meta.get(path.name, {})
            labels = {"kind": m["kind"], "size": float(m["size"])} if m else {}
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out.append(Item(path.name, str(path), digest, labels, m.get("split"), None))
        return out

    def load(self, item: Item) -> Toy:
        return read_toy(item.uri)


class ToyEncoder(Encoder):
    """Six summary statistics: deterministic, batch-independent, cheap."""

    spec = SPEC
    weights_source = "none"

    def preprocess(self, sample: Toy, item_id: str) -> np.ndarray:
        if not isinstance(sample, Toy):
            raise ItemError(f"{item_id}: expected a Toy sample, got {type(sample).__name__}")
        x = np.asarray(sample.values, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise ItemError(f"{item_id}: toy values contain NaN or inf")
        return x

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        rows = [[x.mean(), x.std(), x.max(), x.min(), np.median(x), float(x.size)] for x in inputs]
        return np.asarray(rows, dtype=np.float32).reshape(len(inputs), SPEC.dim)

    def _compute_fingerprint(self) -> str:
        return "toy-stats-v1"


def register() -> None:
    """The entry point: the modality, its adapter and its encoder (idempotent)."""
    if "toy" in MODALITIES:
        return
    DATASETS.register("toyfolder", lambda arg, **opts: ToyFolder(arg, **opts))
    if SPEC.name not in ENCODERS:
        register_encoder(SPEC, probe=lambda: None)(lambda weights=None, device="cpu", **opts: ToyEncoder())
    register_modality(
        Modality(
            name="toy",
            sample_type=Toy,
            adapters=("toyfolder",),
            read_query=read_toy,
            raw_input=RawInput(column="toy", decode=parse_toy, description="bytes of a .toy file", suffix=".toy"),
            default_heads=("classify/logreg", "regress/ridge"),
            query_suffixes=(".toy",),
            description="toy readings (a plugin-only modality for tests)",
            examples=Examples(example, example_query, example_datasets),
        )
    )
    register_recipe(Recipe("toy/centroids", CentroidParams, train_centroids, "kind by the nearest class centroid"))


class CentroidParams(StrictParams):
    """The toy recipe's parameters: which stored vectors, which label."""

    encoder: str = "toy/stats"
    dataset: str | None = None
    label: str = "kind"
    db: str | None = None
    tracking_uri: str | None = None


def train_centroids(params: CentroidParams, stores: dict) -> dict:
    """A nearest-centroid classifier on stored vectors, scored on the test split and logged as an MLflow run."""
    import mlflow

    from embedforge.tasks.features import load_features
    from embedforge.tasks.tracking import use_tracking

    feats = load_features(stores["db_uri"], params.encoder, params.dataset)
    train, test = feats.of_split("train"), feats.of_split("test")
    y_train, y_test = np.asarray(train.label(params.label)), np.asarray(test.label(params.label))
    classes = sorted(set(y_train))
    centres = np.stack([train.X[y_train == c].mean(axis=0) for c in classes])
    guess = np.asarray(classes)[np.argmin(((test.X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)]
    metrics = {"test_accuracy": float((guess == y_test).mean()), "n_test": float(len(y_test))}
    use_tracking(stores["tracking_uri"], "toy-recipes", stores["artifact_root"])
    with mlflow.start_run(run_name="toy/centroids") as run:
        mlflow.log_metrics(metrics)
    return {"run_id": run.info.run_id, "metrics": metrics}


def example(seed: int) -> Toy:
    """One toy reading of 40 values (what ``embedforge.testing`` exercises the encoder with)."""
    rng = np.random.default_rng(seed)
    return Toy((rng.standard_normal(40) * (1 + seed % 3) + seed).astype(np.float32))


def _toy_text(toy: Toy) -> str:
    return HEADER + "\n" + " ".join(f"{v:.6f}" for v in toy.values) + "\n"


def example_query(folder: str, seed: int) -> str:
    path = Path(folder) / f"query{seed}.toy"
    path.write_text(_toy_text(example(seed)))
    return str(path)


def example_datasets(folder: str) -> dict[str, str]:
    """A ``toyfolder`` of 6 readings (kinds a/b, 4 train, 2 test)."""
    root = Path(folder) / "toys"
    root.mkdir(parents=True, exist_ok=True)
    lines = ["id,kind,size,split"]
    for i in range(6):
        (root / f"t{i}.toy").write_text(_toy_text(example(i)))
        lines.append(f"t{i}.toy,{'ab'[i % 2]},{1 + i % 3},{'train' if i < 4 else 'test'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return {"toyfolder": f"toyfolder:{root}"}
