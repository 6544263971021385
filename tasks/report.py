"""Run summaries: embed counts and failures, leaderboard tables, CSV and heatmap, the markdown Prefect shows."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedforge.registry.redact import redact
from embedforge.tasks.scoring import HIGHER_IS_BETTER, METRICS, NAN, TITLES


def embed_summary(plan, results, db: str) -> dict[str, Any]:
    """Fold shard results into one record of what the run did."""
    failures = [f for r in results for f in r.failures]
    return {
        "table": plan.table,
        "dataset": plan.dataset,
        "db": redact(db),  # shown and stored as an artifact: never with its credentials
        "items": plan.total,
        "embedded": sum(r.embedded for r in results),
        "reused": sum(r.reused for r in results),
        "skipped": plan.skipped + sum(r.skipped for r in results),
        "failed": len(failures),
        "failures": failures,
        "shards": len(results),
        "units": sum(getattr(r, "units", 0) for r in results),  # results resumed from older runs lack it
        "unit": next((r.unit for r in results if getattr(r, "unit", "")), ""),
        "shard_seconds": round(sum(r.seconds for r in results), 3),
        "encode_seconds": round(sum(getattr(r, "encode_seconds", 0.0) for r in results), 3),
        "torch_threads": max((getattr(r, "threads", 0) for r in results), default=0),  # 0: torch not used
    }


def summary_markdown(summary: dict[str, Any], encoder: str | None = None) -> str:
    """A table of the counts, where the vectors are and how to search them, then the first failures."""
    lines = [
        "| table | dataset | items | embedded | reused | skipped | failed |",
        "|---|---|---|---|---|---|---|",
        f"| {summary['table']} | {summary['dataset']} | {summary['items']} | {summary['embedded']} | "
        f"{summary['reused']} | {summary['skipped']} | {summary['failed']} |",
        "",
        f"Vectors in LanceDB table `{summary['table']}` of `{summary['db']}`.",
    ]
    if encoder:
        lines.append(
            f"Search it: `embedforge search --encoder {encoder} --dataset {summary['dataset']} --query FILE -k 10`"
        )
    if summary["failures"]:
        lines += ["", "| failed item | reason |", "|---|---|"]
        lines += [f"| {f['id']} | {f['error'].replace('|', '/')} |" for f in summary["failures"][:50]]
    return "\n".join(lines)


def _variant(row: dict) -> str:
    """The augmentation, and the compact-vector transform where there is one: ``stats`` or ``stats + pca:32``."""
    transform = row.get("transform", "none")
    return row["augmentation"] if transform in (None, "", "none") else f"{row['augmentation']} + {transform}"


def pivot(rows: list[dict], metric: str = "accuracy") -> tuple[list[str], list[str], np.ndarray]:
    """(row labels encoder|augmentation|head, dataset columns, metric matrix with NaN gaps) of the metric's task."""
    task = next(t for t, ms in METRICS.items() if metric in ms)
    rows = [r for r in rows if r.get("task", "classification") == task]
    keys = sorted({(r["encoder"], _variant(r), r["head"]) for r in rows})
    cols = sorted({r["dataset"] for r in rows})
    values = np.full((len(keys), len(cols)), np.nan)
    for r in rows:
        values[keys.index((r["encoder"], _variant(r), r["head"])), cols.index(r["dataset"])] = r[metric]
    return [" | ".join(k) for k in keys], cols, values


def heatmap(rows: list[dict], path: str) -> str:
    """Test accuracy (classification), R² (regression) and nDCG@10 (retrieval) heatmaps, encoders x datasets."""
    from matplotlib.figure import Figure

    panels = [(m, pivot(rows, m)) for m in ("accuracy", "r2", "ndcg_at_10")]
    panels = [(m, p) for m, p in panels if p[0]] or panels[:1]
    width = sum(2.5 + 1.1 * len(p[1]) for _, p in panels)
    height = 1.2 + 0.32 * max(len(p[0]) for _, p in panels)
    fig = Figure(figsize=(width + 1.5 * (len(panels) - 1), height), dpi=110)
    for k, (metric, (labels, cols, values)) in enumerate(panels):
        _heat_panel(fig, fig.add_subplot(1, len(panels), k + 1), metric, labels, cols, values)
    fig.suptitle("embedforge leaderboard")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _heat_panel(fig, ax, metric: str, labels: list[str], cols: list[str], values: np.ndarray) -> None:
    """One metric's grid: its name as the title, values in the cells in a colour readable on the cell."""
    low = float(np.nanmin(values)) if np.isfinite(values).any() else 0.0
    vmin, vmax = min(low, 0.999), 1.0
    im = ax.imshow(values if values.size else np.zeros((1, 1)), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    rows, prefix = _short_labels(labels)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            dark = (v - vmin) / max(vmax - vmin, 1e-9) < 0.6  # viridis is dark below ~60% of its range
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_title(f"test {TITLES[metric]}" + (f" ({prefix}*)" if prefix else ""), fontsize=9)
    fig.colorbar(im, ax=ax).set_label(f"test {TITLES[metric]}", fontsize=8)


def _short_labels(labels: list[str]) -> tuple[list[str], str]:
    """Row labels without the encoder namespace they all share (``timeseries/``), and that namespace."""
    spaces = {label.split("/", 1)[0] for label in labels if "/" in label.split(" | ", 1)[0]}
    if len(spaces) != 1 or not all("/" in label.split(" | ", 1)[0] for label in labels):
        return labels, ""
    prefix = f"{spaces.pop()}/"
    return [label.removeprefix(prefix) for label in labels], prefix


CSV_COLUMNS = ["encoder", "dataset", "augmentation", "head", "accuracy", *METRICS["classification"][1:]]
CSV_COLUMNS += [*METRICS["regression"], "task", "label", "n_train", "n_test", "cached", "run_id"]
CSV_COLUMNS += ["transform", "bytes_per_vector", *METRICS["retrieval"]]


def _rank(row: dict) -> tuple:
    """Datasets, then classification before regression, best cell first, NaN last."""
    task = row.get("task", "classification")
    metric = METRICS[task][0]
    value = float(row.get(metric, NAN))
    value = -value if HIGHER_IS_BETTER[metric] else value
    return (row["dataset"], task, np.isnan(value), 0.0 if np.isnan(value) else value, row["encoder"])


def write_csv(rows: list[dict], path: str) -> str:
    """One line per cell; metrics that do not apply to a cell's task are left empty."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(rows, key=_rank):
            writer.writerow({k: "" if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()})
    return path


def markdown(rows: list[dict]) -> str:
    """One table per metric that some cell has: classification metrics first, then regression."""
    sections = []
    for metrics in METRICS.values():
        for metric in metrics:
            labels, cols, values = pivot(rows, metric)
            if labels:
                sections.append(f"**test {TITLES[metric]}**\n\n" + _markdown_table(labels, cols, values))
    return "\n\n".join(sections)


def _markdown_table(labels: list[str], cols: list[str], values: np.ndarray) -> str:
    lines = ["| encoder \\| augmentation \\| head | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, row in zip(labels, values):
        cells = " | ".join("" if np.isnan(v) else f"{v:.3f}" for v in row)
        lines.append(f"| {label.replace('|', '/')} | {cells} |")
    return "\n".join(lines)


def failure_verdict(summary: dict[str, Any], max_failures: str | None = None) -> str | None:
    """Why a finished embed run counts as failed, or None.

    Nothing stored while items failed is always a failure (a wrong adapter, a missing set). ``max_failures``,
    a count (``3``) or a fraction of the items (``0.05``), makes partial failure one too.
    """
    failed, stored = summary["failed"], summary["embedded"] + summary["reused"] + summary["skipped"]
    if not failed and not summary["items"]:
        return f"dataset {summary['dataset']!r} holds no items: check the path and the adapter's layout"
    if failed and not stored:
        return f"nothing was embedded and {failed} item(s) failed"
    if not failed or max_failures in (None, ""):
        return None
    limit = float(max_failures)
    allowed = limit * max(summary["items"], 1) if 0 < limit < 1 else limit
    if failed > allowed:
        return f"{failed} of {summary['items']} item(s) failed (--max-failures {max_failures})"
    return None
