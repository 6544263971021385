"""A modality-agnostic leaderboard: stored vectors (+ augmentations) x heads, scored, cached in MLflow."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from embedforge.modalities.base import BagScorer
from embedforge.tasks.features import Features, load_features
from embedforge.tasks.filters import mlflow_str
from embedforge.tasks.scoring import METRICS, NAN
from embedforge.tasks.splits import SplitReport
from embedforge.tasks.store import table_name

CACHE_TAG = "embedforge.cache_key"


@dataclass
class Score:
    """One leaderboard cell: an encoder (+ augmentation) and a head, scored on one dataset's test split.

    Classification cells fill accuracy, macro_f1 and auc; regression cells mae, rmse and r2; the rest stay NaN.
    """

    encoder: str
    dataset: str
    augmentation: str
    head: str
    task: str
    label: str
    n_train: int
    n_test: int
    accuracy: float = NAN
    macro_f1: float = NAN
    auc: float = NAN
    mae: float = NAN
    rmse: float = NAN
    r2: float = NAN
    cached: bool = False
    run_id: str | None = None
    transform: str = "none"  # compact-vector transform of the features (tasks/transforms.py), e.g. pca:32
    bytes_per_vector: float = NAN


def augmentation_sets(augment: list[str]) -> list[tuple[str, ...]]:
    """``[diff, stats]`` -> (), (diff,), (stats,), (diff, stats): every combination, base first."""
    names = sorted(set(augment))
    return [combo for r in range(len(names) + 1) for combo in combinations(names, r)]


def variant_encoder(encoder: str, combo: tuple[str, ...]) -> str | None:
    """The encoder whose table a combination reads (``-diff`` variants), or None if it has none."""
    from embedforge.registry.augmentations import AUGMENTATIONS
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.encoders import ENCODERS

    load_catalog()
    name = encoder
    for aug in combo:
        suffix = AUGMENTATIONS.get(aug).variant_suffix
        if suffix:
            name += suffix
    return name if name in ENCODERS else None


def feature_matrix(feats: Features, combo: tuple[str, ...], dataset_ref: str) -> np.ndarray:
    """Stored vectors, with raw-sample augmentations fit on the train split and appended."""
    from embedforge.registry.augmentations import AUGMENTATIONS

    blocks = [feats.X]
    raw = [factory for a in combo if (factory := AUGMENTATIONS.get(a).raw_factory) is not None]
    if raw:
        samples = _raw_samples(dataset_ref, feats.ids)
        train = [s for s, sp in zip(samples, feats.split) if sp == "train"]
        blocks += [factory().fit(train).transform(samples) for factory in raw]
    return np.hstack(blocks).astype(np.float32)


def _raw_samples(dataset_ref: str, ids: list[str]) -> list[Any]:
    from embedforge.registry.datasets import open_dataset

    ds = open_dataset(dataset_ref)
    by_id = {it.id: it for it in ds.items()}
    return [ds.load(by_id[i]) for i in ids]


def cache_key(feats: Features, combo: tuple[str, ...], head: str, label: str, transform: str = "none") -> str:
    """Same stored vectors (identity + item content), augmentation, transform, head and labels -> same key."""
    parts = [feats.identity, combo, head, label] + ([transform] if transform != "none" else [])
    h = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
    h.update(json.dumps([feats.ids, feats.hashes, feats.split, [lab.get(label) for lab in feats.labels]]).encode())
    return h.hexdigest()[:32]


def score_head(*, feats: Features, X: np.ndarray, head: str, label: str) -> tuple[dict[str, float], int, int, Any]:
    """Fit on the labelled train items, score the labelled test items; (metrics, n_train, n_test, (y, pred))."""
    from embedforge.registry.heads import build_head

    model = build_head(head, context=head_context(feats))
    if isinstance(model, BagScorer):  # slide-level (MIL) heads: rows grouped into bags by the head
        return model.score_bags(feats=feats, X=X, label=label)
    fitted = fit_head(feats=feats, X=X, head=head, label=label, model=model)
    return fitted.metrics, fitted.n_train, fitted.n_test, (fitted.y_test, fitted.pred)


def head_context(feats: Features) -> dict[str, Any]:
    """What a head may ask of the table it trains on: the encoder and the weights that made it."""
    found = {"encoder": feats.identity.get("name"), "weights": feats.identity.get("weights")}
    return {k: v for k, v in found.items() if v is not None}


@dataclass
class FittedHead:
    """A row head fit on the labelled train items and scored on the labelled test items."""

    model: Any
    task: str
    metrics: dict[str, float]
    n_train: int
    n_test: int
    y_test: np.ndarray
    pred: np.ndarray
    split: SplitReport | None = None


def fit_head(
    *, feats: Features, X: np.ndarray, head: str, label: str, model: Any = None, allow_small: bool = False
) -> FittedHead:
    """The one place a row head is fit and scored: the leaderboard and `embedforge train head` share it.

    Test items whose content is in the training split are dropped (and reported); a split that cannot give an
    honest score raises ``SplitError`` before fitting unless ``allow_small``.
    """
    from embedforge.registry.heads import build_head, head_task
    from embedforge.tasks.scoring import classification_metrics, regression_metrics, targets
    from embedforge.tasks.splits import check_split, leak_mask

    model = build_head(head, context=head_context(feats)) if model is None else model
    task, where = head_task(head), feats.datasets[0] if feats.datasets else "?"
    try:
        y, known = targets(labels=feats.labels, ids=feats.ids, label=label, task=task)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    split = np.array(feats.split)
    train, test = (split == "train") & known, (split == "test") & known
    if not train.any() or not test.any():
        raise ValueError(f"{where}: need train and test items labelled {label!r}")
    leaks = leak_mask(feats.hashes, train, test)
    test &= ~leaks
    report = check_split(y, train, test, task, [feats.ids[i] for i in np.flatnonzero(leaks)], allow_small)
    model = model.fit(X[train], y[train])
    if task == "classification":
        metrics, pred = classification_metrics(model, X[test], y[test])
    else:
        pred = np.asarray(model.predict(X[test]), dtype=np.float64).ravel()
        metrics = regression_metrics(y[test], pred)
    return FittedHead(model, task, metrics, int(train.sum()), int(test.sum()), y[test], pred, report)


def cached_scores(keys: list[str], encoder: str, dataset: str) -> dict[str, dict[str, Any]]:
    """Finished MLflow runs that already scored these keys: one search per (encoder, dataset)."""
    import mlflow

    query = (
        f"tags.`embedforge.kind` = 'leaderboard-cell' and params.encoder = {mlflow_str(encoder)} and "
        f"params.dataset = {mlflow_str(dataset)} and attributes.status = 'FINISHED'"
    )
    runs = mlflow.search_runs(filter_string=query, output_format="list", search_all_experiments=False)
    wanted = set(keys)
    return {
        r.data.tags[CACHE_TAG]: {"run_id": r.info.run_id, **r.data.metrics}
        for r in runs
        if r.data.tags.get(CACHE_TAG) in wanted
    }


def to_rows(scores: list[Score]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scores]


def head_labels(heads: list[str], label: str, target: str | None) -> dict[str, str]:
    """Which label each head learns: ``classify/*`` the label, ``regress/*`` the target (default: the label)."""
    from embedforge.registry.heads import head_task

    return {head: (target or label) if head_task(head) == "regression" else label for head in heads}


def score_pair(
    *,
    db: str,
    encoder: str,
    weights: str | None,
    dataset_ref: str,
    dataset_name: str,
    augment: list[str],
    heads: list[str],
    label: str,
    tracking_uri: str,
    experiment: str,
    options: dict[str, str] | None = None,
    target: str | None = None,
    transforms: list[str] | None = None,
    progress: str | None = None,
) -> list[dict]:
    """Every augmentation combination x transform x head for one (encoder, dataset); cached cells are reused.

    Each cell and then the pair are noted in the ``progress`` file when one is given (the CLI's bar reads it).
    """
    from embedforge.tasks.progress import append_event
    from embedforge.tasks.tracking import use_tracking
    from embedforge.tasks.transforms import transform_features

    use_tracking(tracking_uri, experiment)
    labels, scores = head_labels(heads, label, target), []
    for combo in augmentation_sets(augment):
        name = variant_encoder(encoder, combo)
        if name is None:
            continue  # e.g. MiniRocket has no -diff variant
        feats, base = load_features(db, name, dataset_name, weights, options), None
        for spec in transforms or ["none"]:
            keys = {head: cache_key(feats, combo, head, labels[head], spec) for head in heads}
            hits, X = cached_scores(list(keys.values()), encoder, dataset_name), None
            for head in heads:
                cell = Cell(
                    encoder=encoder, dataset=dataset_name, combo=combo, head=head, label=labels[head], transform=spec
                )
                hit = hits.get(keys[head])
                append_event(progress, event="cell", encoder=encoder, dataset=dataset_name, head=head, combo=combo)
                if hit is not None and set(METRICS[cell.task]) <= set(hit):
                    scores.append(cell.cached(hit))
                    continue
                if X is None:
                    base = feature_matrix(feats, combo, dataset_ref) if base is None else base
                    X, nbytes = transform_features(X=base, split=feats.split, spec=spec)
                scores.append(
                    cell.score(
                        feats=feats,
                        X=X,
                        key=keys[head],
                        bytes_per_vector=nbytes,
                        source=(db, table_name(name, weights, options)),
                    )
                )
    append_event(progress, event="pair", encoder=encoder, dataset=dataset_name)
    return to_rows(scores)


@dataclass(frozen=True)
class Cell:
    """Which cell is being filled: read back from MLflow, or fitted, scored and logged as one run."""

    encoder: str
    dataset: str
    combo: tuple[str, ...]
    head: str
    label: str
    transform: str = "none"

    @property
    def task(self) -> str:
        from embedforge.registry.heads import head_task

        return head_task(self.head)

    @property
    def augmentation(self) -> str:
        return "+".join(self.combo) or "none"

    @property
    def run_name(self) -> str:
        """Head first, so a run list's truncated names still differ: ``classify/logreg · minirocket · GunPoint``."""
        parts = [self.head, self.encoder.split("/", 1)[-1], self.dataset]
        parts += [] if self.augmentation == "none" else [self.augmentation]
        parts += [] if self.transform == "none" else [self.transform]
        return " · ".join(parts)

    def result(self, metrics: dict[str, Any], *, cached: bool, run_id: str) -> Score:
        values = {m: float(metrics.get(m, NAN)) for m in METRICS[self.task]}
        return Score(
            encoder=self.encoder,
            dataset=self.dataset,
            augmentation=self.augmentation,
            head=self.head,
            task=self.task,
            label=self.label,
            n_train=int(metrics["n_train"]),
            n_test=int(metrics["n_test"]),
            cached=cached,
            run_id=run_id,
            transform=self.transform,
            bytes_per_vector=float(metrics.get("bytes_per_vector", NAN)),
            **values,
        )

    def cached(self, hit: dict[str, Any]) -> Score:
        return self.result(hit, cached=True, run_id=hit["run_id"])

    def score(
        self,
        *,
        feats: Features,
        X: np.ndarray,
        key: str,
        bytes_per_vector: int,
        source: tuple[str, str] | None = None,
    ) -> Score:
        """Fit and score the head, and log the cell as one MLflow run with its plot (and, given the ``source``
        (LanceDB URI, table) it read, the stored vectors as the run's dataset input)."""
        import mlflow

        from embedforge.tasks.scoring import cell_figure
        from embedforge.tasks.tracking import log_features_input

        metrics, n_train, n_test, (y, pred) = score_head(feats=feats, X=X, head=self.head, label=self.label)
        metrics = {**metrics, "n_train": n_train, "n_test": n_test, "bytes_per_vector": bytes_per_vector}
        with mlflow.start_run(run_name=self.run_name) as run:
            mlflow.set_tags({CACHE_TAG: key, "embedforge.kind": "leaderboard-cell", "encoder": self.encoder,
                             "dataset": self.dataset, "head": self.head, "task": self.task,
                             "modality": self.encoder.split("/", 1)[0]})  # fmt: skip
            if source is not None:
                keys = [f"{d}/{i}@{h}" for d, i, h in zip(feats.datasets, feats.ids, feats.hashes, strict=True)]
                log_features_input(source[0], source[1], feats.datasets, keys, "training")
            mlflow.log_params(
                {
                    "encoder": self.encoder,
                    "encoder_fingerprint": feats.identity["fingerprint"],
                    "dataset": self.dataset,
                    "augmentation": self.augmentation,
                    "transform": self.transform,
                    "head": self.head,
                    "task": self.task,
                    "label": self.label,
                    "features": X.shape[1],
                }
            )
            mlflow.log_metrics(metrics)
            title = f"{self.head} on {self.encoder} ({self.augmentation}) · {self.dataset}: {self.label}"
            plot = "confusion.png" if self.task == "classification" else "parity.png"
            mlflow.log_figure(cell_figure(self.task, y, pred, title), plot)
        return self.result(metrics, cached=False, run_id=run.info.run_id)


def publish(*, rows: list[dict], tracking_uri: str, experiment: str, output_csv: str | None) -> dict[str, Any]:
    """Leaderboard CSV, heatmap and markdown as artifacts of one MLflow run (and a CSV where asked)."""
    import tempfile
    from pathlib import Path

    import mlflow

    from embedforge.tasks.report import heatmap, markdown, write_csv
    from embedforge.tasks.tracking import use_tracking

    quality = space_quality(tracking_uri, sorted({r["encoder"] for r in rows}))
    text = markdown(rows) + quality_markdown(quality)
    use_tracking(tracking_uri, experiment)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name="leaderboard") as run:
        mlflow.set_tag("embedforge.kind", "leaderboard")
        mlflow.log_artifact(write_csv(rows, str(Path(tmp) / "leaderboard.csv")))
        mlflow.log_artifact(heatmap(rows, str(Path(tmp) / "leaderboard.png")))
        mlflow.log_text(text, "leaderboard.md")
        if quality:
            mlflow.log_dict(quality, "space_quality.json")
        mlflow.log_metric("cells", len(rows))
    if output_csv:
        Path(output_csv).parent.mkdir(parents=True, exist_ok=True)
        write_csv(rows, output_csv)
    return {"run_id": run.info.run_id, "csv": output_csv, "markdown": text, "quality": quality}


QUALITY = {  # analyze's space-quality metrics, in the order the leaderboard shows them
    "quality_effective_rank": "effective rank",
    "quality_isotropy_mean_cosine": "mean cosine",
    "quality_isotropy_mean_cosine_whitened": "mean cosine, whitened",
    "quality_hubness_skew": "hubness skew",
    "quality_intrinsic_dimension": "intrinsic dim",
}


def space_quality(tracking_uri: str, encoders: list[str]) -> dict[str, dict[str, Any]]:
    """Each encoder's latest ``embedforge analyze`` quality numbers (experiment ``analysis``), to set beside its
    scores; encoders never analysed are left out."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name("analysis")
    if found is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for encoder in encoders:
        runs = mlflow.search_runs(
            experiment_ids=[found.experiment_id],
            filter_string=f"tags.encoder = {mlflow_str(encoder)} and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            output_format="list",
        )
        run = next((r for r in runs if any(k in r.data.metrics for k in QUALITY)), None)
        if run is not None:
            metrics = {QUALITY[k]: v for k, v in run.data.metrics.items() if k in QUALITY}
            out[encoder] = {**metrics, "datasets": run.data.tags.get("dataset", ""), "run_id": run.info.run_id}
    return out


def quality_markdown(quality: dict[str, dict[str, Any]]) -> str:
    """The space-quality table under the scores (empty when no encoder was analysed)."""
    if not quality:
        return ""
    head = "| encoder | " + " | ".join(QUALITY.values()) + " | analysed datasets |"
    lines = ["", "", "**embedding space (`embedforge analyze`)**", "", head, "|---" * (len(QUALITY) + 2) + "|"]
    for encoder, q in sorted(quality.items()):
        cells = " | ".join(f"{q[name]:.3f}" if name in q else "" for name in QUALITY.values())
        lines.append(f"| {encoder} | {cells} | {q['datasets']} |")
    return "\n".join(lines)
