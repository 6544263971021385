"""A modality-agnostic leaderboard: stored vectors (+ augmentations) x heads, scored, cached in MLflow."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from embedforge.tasks.features import Features, load_features

CACHE_TAG = "embedforge.cache_key"


@dataclass
class Score:
    """One leaderboard cell: an encoder (+ augmentation) and a head, scored on one dataset's test split."""

    encoder: str
    dataset: str
    augmentation: str
    head: str
    accuracy: float
    n_train: int
    n_test: int
    cached: bool = False
    run_id: str | None = None


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
    raw = [AUGMENTATIONS.get(a).raw_factory for a in combo if AUGMENTATIONS.get(a).raw_factory]
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


def cache_key(feats: Features, combo: tuple[str, ...], head: str, label: str) -> str:
    """Same stored vectors (identity + item content), augmentation, head and labels -> same key."""
    h = hashlib.sha256(json.dumps([feats.identity, combo, head, label], sort_keys=True).encode())
    h.update(json.dumps([feats.ids, feats.hashes, feats.split, [lab.get(label) for lab in feats.labels]]).encode())
    return h.hexdigest()[:32]


def score_head(feats: Features, X: np.ndarray, head: str, label: str) -> tuple[float, int, int, Any]:
    """Fit on the train split, accuracy on the test split; returns (accuracy, n_train, n_test, predictions)."""
    from embedforge.registry.heads import build_head

    y = np.array([str(lab.get(label)) for lab in feats.labels])
    split = np.array(feats.split)
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"{feats.datasets[0] if feats.datasets else '?'}: need train and test items")
    model = build_head(head).fit(X[train], y[train])
    pred = np.asarray(model.predict(X[test])).astype(str)
    return float(np.mean(pred == y[test])), int(train.sum()), int(test.sum()), (y[test], pred)


def cached_scores(keys: list[str], encoder: str, dataset: str) -> dict[str, dict[str, Any]]:
    """Finished MLflow runs that already scored these keys: one search per (encoder, dataset)."""
    import mlflow

    query = (
        f"tags.`embedforge.kind` = 'leaderboard-cell' and params.encoder = '{encoder}' and "
        f"params.dataset = '{dataset}' and attributes.status = 'FINISHED'"
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


def score_pair(
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
) -> list[dict]:
    """Every augmentation combination x head for one (encoder, dataset); cached cells are reused, not refit."""
    from embedforge.tasks.tracking import use_tracking

    use_tracking(tracking_uri, experiment)
    scores = []
    for combo in augmentation_sets(augment):
        name = variant_encoder(encoder, combo)
        if name is None:
            continue  # e.g. MiniRocket has no -diff variant
        feats = load_features(db, name, dataset_name, weights, options)
        keys = {head: cache_key(feats, combo, head, label) for head in heads}
        hits, X = cached_scores(list(keys.values()), encoder, dataset_name), None
        for head in heads:
            hit = hits.get(keys[head])
            if hit is None:
                X = feature_matrix(feats, combo, dataset_ref) if X is None else X
            scores.append(
                _cached_cell(hit, encoder, dataset_name, combo, head)
                if hit
                else _score_cell(feats, X, encoder, dataset_name, combo, head, label, keys[head])
            )
    return to_rows(scores)


def _cached_cell(hit, encoder, dataset_name, combo, head) -> Score:
    return Score(
        encoder,
        dataset_name,
        "+".join(combo) or "none",
        head,
        hit["accuracy"],
        int(hit["n_train"]),
        int(hit["n_test"]),
        cached=True,
        run_id=hit["run_id"],
    )


def _score_cell(feats, X, encoder, dataset_name, combo, head, label, key) -> Score:
    import mlflow

    aug = "+".join(combo) or "none"
    accuracy, n_train, n_test, (y, pred) = score_head(feats, X, head, label)
    with mlflow.start_run(run_name=f"{encoder}|{dataset_name}|{aug}|{head}") as run:
        mlflow.set_tags({CACHE_TAG: key, "embedforge.kind": "leaderboard-cell"})
        mlflow.log_params(
            {
                "encoder": encoder,
                "encoder_fingerprint": feats.identity["fingerprint"],
                "dataset": dataset_name,
                "augmentation": aug,
                "head": head,
                "features": X.shape[1],
            }
        )
        mlflow.log_metrics({"accuracy": accuracy, "n_train": n_train, "n_test": n_test})
        mlflow.log_figure(confusion_figure(y, pred, f"{encoder} {aug} {head}\n{dataset_name}"), "confusion.png")
    return Score(encoder, dataset_name, aug, head, accuracy, n_train, n_test, cached=False, run_id=run.info.run_id)


def confusion_figure(y: np.ndarray, pred: np.ndarray, title: str):
    """A confusion matrix people can read at a glance."""
    from matplotlib.figure import Figure
    from sklearn.metrics import confusion_matrix

    classes = sorted(set(y) | set(pred))
    cm = confusion_matrix(y, pred, labels=classes)
    fig = Figure(figsize=(1.2 + 0.45 * len(classes), 1.0 + 0.45 * len(classes)), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(classes)) if len(classes) <= 30 else []
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
    if ticks:
        ax.set_xticklabels(classes, rotation=90, fontsize=7)
        ax.set_yticklabels(classes, fontsize=7)
    fig.tight_layout()
    return fig


def pivot(rows: list[dict]) -> tuple[list[str], list[str], np.ndarray]:
    """(row labels encoder|augmentation|head, dataset columns, accuracy matrix with NaN gaps)."""
    keys = sorted({(r["encoder"], r["augmentation"], r["head"]) for r in rows})
    cols = sorted({r["dataset"] for r in rows})
    acc = np.full((len(keys), len(cols)), np.nan)
    for r in rows:
        acc[keys.index((r["encoder"], r["augmentation"], r["head"])), cols.index(r["dataset"])] = r["accuracy"]
    return [" | ".join(k) for k in keys], cols, acc


def heatmap(rows: list[dict], path: str) -> str:
    """Accuracy heatmap, encoders x datasets, annotated."""
    from matplotlib.figure import Figure

    labels, cols, acc = pivot(rows)
    fig = Figure(figsize=(2.5 + 1.1 * len(cols), 1.2 + 0.32 * len(labels)), dpi=110)
    ax = fig.add_subplot()
    im = ax.imshow(acc, cmap="viridis", vmin=np.nanmin(acc) if np.isfinite(acc).any() else 0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), v in np.ndenumerate(acc):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white" if v < 0.8 else "black")
    fig.colorbar(im, ax=ax, label="test accuracy")
    ax.set_title("embedforge leaderboard")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_csv(rows: list[dict], path: str) -> str:
    import csv

    cols = ["encoder", "dataset", "augmentation", "head", "accuracy", "n_train", "n_test", "cached", "run_id"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["dataset"], -r["accuracy"], r["encoder"])))
    return path


def markdown(rows: list[dict]) -> str:
    labels, cols, acc = pivot(rows)
    lines = ["| encoder \\| augmentation \\| head | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, row in zip(labels, acc):
        lines.append(
            f"| {label.replace('|', '/')} | " + " | ".join("" if np.isnan(v) else f"{v:.3f}" for v in row) + " |"
        )
    return "\n".join(lines)


def publish(rows: list[dict], tracking_uri: str, experiment: str, output_csv: str | None) -> dict[str, Any]:
    """Leaderboard CSV, heatmap and markdown as artifacts of one MLflow run (and a CSV where asked)."""
    import tempfile
    from pathlib import Path

    import mlflow

    from embedforge.tasks.tracking import use_tracking

    use_tracking(tracking_uri, experiment)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name="leaderboard") as run:
        mlflow.set_tag("embedforge.kind", "leaderboard")
        mlflow.log_artifact(write_csv(rows, str(Path(tmp) / "leaderboard.csv")))
        mlflow.log_artifact(heatmap(rows, str(Path(tmp) / "leaderboard.png")))
        mlflow.log_text(markdown(rows), "leaderboard.md")
        mlflow.log_metric("cells", len(rows))
    if output_csv:
        Path(output_csv).parent.mkdir(parents=True, exist_ok=True)
        write_csv(rows, output_csv)
    return {"run_id": run.info.run_id, "csv": output_csv, "markdown": markdown(rows)}
