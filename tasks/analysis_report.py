"""What ``analyze`` tells people and scripts: CSV and JSON files, the map, a short summary, an MLflow run.

Everything here is derived from the stored columns, so a rerun that recomputed nothing reports the same.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.tasks.analysis_map import MAX_THUMBNAILS, thumbnail_uri, write_html, write_png
from embedforge.tasks.analyze import Analysis

TRAIN = "train"


def dup_groups(a: Analysis) -> list[dict[str, Any]]:
    """Duplicate groups, largest first: members (row numbers), the representative, whether it leaks."""
    group = a.columns.get("dup_group")
    if group is None:
        return []
    by: dict[int, list[int]] = {}
    for i, g in enumerate(group.tolist()):
        if g is not None and g >= 0:
            by.setdefault(int(g), []).append(i)
    rep = a.columns["dup_representative"]
    split = a.features.split
    out = []
    for g, members in sorted(by.items()):
        splits = {split[i] for i in members}
        leak = TRAIN in splits and bool(splits - {TRAIN, None})
        out.append({"group": g, "members": members, "representative": next(i for i in members if rep[i]), "leak": leak})
    return out


def cluster_table(a: Analysis) -> list[dict[str, Any]]:
    """Per cluster: size, label mix and the rows nearest its centre (noise, -1, last)."""
    assign = a.columns.get("cluster")
    if assign is None:
        return []
    labels, dist = a.labels(), a.columns["cluster_distance"]
    out = []
    for c in sorted(set(assign.tolist()), key=lambda c: (c == -1, -int((assign == c).sum()))):
        rows = np.flatnonzero(assign == c)
        central = rows[np.argsort(np.nan_to_num(dist[rows], nan=9.0))[:5]].tolist()
        mix = Counter(labels[i] for i in rows if labels[i] is not None)
        out.append({"cluster": int(c), "size": len(rows), "labels": dict(mix.most_common(5)), "central": central})
    return out


def _ids(a: Analysis, rows: list[int]) -> list[str]:
    return [f"{a.features.datasets[i]}/{a.features.ids[i]}" for i in rows]


def summary(a: Analysis) -> dict[str, Any]:
    """Counts and the top of each list, for the console and the flow's artifact."""
    out: dict[str, Any] = {
        "encoder": a.encoder,
        "rows": len(a.features.ids),
        "computed": a.computed,
        "reused": a.reused,
    }
    groups = dup_groups(a)
    if "dup_group" in a.columns:
        out["duplicates"] = {
            "groups": len(groups),
            "redundant_rows": sum(len(g["members"]) - 1 for g in groups),
            "leaking_groups": sum(g["leak"] for g in groups),
            "largest": [_ids(a, g["members"][:5]) for g in groups[:3]],
            "largest_sizes": [len(g["members"]) for g in groups[:3]],
            "leaks": [_ids(a, g["members"][:5]) for g in groups if g["leak"]][:5],
        }
    clusters = cluster_table(a)
    if clusters:
        out["clusters"] = {
            "count": sum(c["cluster"] >= 0 for c in clusters),
            "largest": [{k: c[k] for k in ("cluster", "size", "labels")} for c in clusters[:5]],
        }
    if "outlier" in a.columns:
        order = np.argsort(-np.nan_to_num(a.columns["knn_distance"], nan=-1.0), kind="stable")
        out["outliers"] = _ids(a, order[:5].tolist())
    if "label_issue" in a.columns:
        out["label_issues"] = {"count": int(np.sum(a.columns["label_issue"] == True))}  # noqa: E712 (object arrays)
    if "quality" in a.info:
        out["quality"] = a.info["quality"]
    return out


def _write_csv(path: Path, header: list[str], rows) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_files(a: Analysis, out: Path, thumbnail: Callable[[dict], Any] | None = None) -> list[Path]:
    """The files ``--output`` asks for, for the analyses present."""
    out.mkdir(parents=True, exist_ok=True)
    f, c = a.features, a.columns
    written = []
    rows: list[tuple[Any, ...]]
    if "dup_group" in c:
        rows = [
            (g["group"], f.datasets[i], f.ids[i], i == g["representative"], f"{float(c['dup_score'][i]):.4f}")
            for g in dup_groups(a)
            for i in g["members"]
        ]
        written.append(_write_csv(out / "duplicates.csv", ["group", "dataset", "id", "representative", "score"], rows))
    if "cluster" in c:
        rows = [
            (t["cluster"], t["size"], json.dumps(t["labels"]), " ".join(_ids(a, t["central"])))
            for t in cluster_table(a)
        ]
        written.append(_write_csv(out / "clusters.csv", ["cluster", "size", "labels", "central"], rows))
        members = [(f.datasets[i], f.ids[i], int(c["cluster"][i])) for i in range(len(f.ids))]
        written.append(_write_csv(out / "cluster_members.csv", ["dataset", "id", "cluster"], members))
    if "outlier" in c:
        order = np.argsort(-np.nan_to_num(c["knn_distance"], nan=-1.0), kind="stable")
        rows = [(f.datasets[i], f.ids[i], f"{c['knn_distance'][i]:.4f}", f"{c['outlier'][i]:.4f}") for i in order]
        written.append(_write_csv(out / "outliers.csv", ["dataset", "id", "knn_distance", "outlier"], rows))
    if "label_quality" in c:
        written.append(_label_csv(a, out / "label_issues.csv"))
    if "quality" in a.info:
        path = out / "quality.json"
        path.write_text(json.dumps(a.info["quality"], indent=2) + "\n")
        written.append(path)
    if "map_x" in c:
        written += _map_files(a, out, thumbnail)
    return written


def _label_csv(a: Analysis, path: Path) -> Path:
    f, c, labels = a.features, a.columns, a.labels()
    quality = np.asarray(c["label_quality"], dtype=np.float64)
    scored = [i for i in np.argsort(np.nan_to_num(quality, nan=np.inf), kind="stable") if not np.isnan(quality[i])]
    rows = [
        (f.datasets[i], f.ids[i], labels[i], c["suggested_label"][i], f"{quality[i]:.4f}", bool(c["label_issue"][i]))
        for i in scored
    ]
    return _write_csv(path, ["dataset", "id", "label", "suggested", "quality", "issue"], rows)


def map_points(a: Analysis, thumbnail: Callable[[dict], Any] | None = None) -> list[dict[str, Any]]:
    """The drawn rows as the page's points; the first MAX_THUMBNAILS carry a picture where the modality has one."""
    f, c, labels = a.features, a.columns, a.labels()
    rows = np.flatnonzero(~np.isnan(np.asarray(c["map_x"], dtype=np.float64)))
    points = []
    for n, i in enumerate(rows.tolist()):
        p: dict[str, Any] = {"x": float(c["map_x"][i]), "y": float(c["map_y"][i]), "id": f.ids[i]}
        p.update(dataset=f.datasets[i], label=labels[i], split=f.split[i])
        for col in ("cluster", "outlier", "dup_group", "label_issue"):
            if col in c and c[col][i] is not None:
                p[col] = c[col][i].item() if hasattr(c[col][i], "item") else c[col][i]
        if thumbnail is not None and n < MAX_THUMBNAILS:
            p["thumbnail"] = _thumb(thumbnail, f, i)
        points.append(p)
    return points


def _thumb(thumbnail: Callable[[dict], Any], f, i: int) -> str | None:
    """The item's picture, or None where it cannot be read again (moved, deleted): the point still shows."""
    from embedforge.modalities.base import ItemError

    hit = {"id": f.ids[i], "uri": f.uris[i] if f.uris else None, "labels": f.labels[i]}
    try:
        return thumbnail_uri(thumbnail(hit))
    except (ItemError, OSError, ValueError):  # an item that cannot be drawn is a point without a picture
        return None


def _map_files(a: Analysis, out: Path, thumbnail) -> list[Path]:
    points = map_points(a, thumbnail)
    title = f"{a.encoder} · {len(points)} of {len(a.features.ids)} rows · {a.info.get('map', {}).get('method', '')}"
    colour = "cluster" if "cluster" in a.columns else "label"
    return [write_html(points, out / "map.html", title), write_png(points, colour, out / "map.png", title)]


def log_run(a: Analysis, files: list[Path], db_uri: str, tracking_uri: str, artifact_root: str | None) -> str:
    """One MLflow run per analysis: the space's quality and the counts as metrics (beside the leaderboard's
    accuracy, per encoder), the files as artifacts (the map PNG shows in the run's artifact view)."""
    import mlflow

    from embedforge.tasks.tracking import log_features_input, use_tracking

    use_tracking(tracking_uri, "analysis", artifact_root)
    names = ",".join(sorted(set(a.features.datasets)))
    s = summary(a)
    with mlflow.start_run(run_name=f"analyze · {names} · {a.encoder}") as run:
        mlflow.set_tags({"encoder": a.encoder, "dataset": names, "modality": a.encoder.split("/", 1)[0],
                         "task": "analysis", "analyses": ",".join(a.computed + a.reused)})  # fmt: skip
        keys = [f"{d}/{i}@{h}" for d, i, h in zip(a.features.datasets, a.features.ids, a.features.hashes, strict=True)]
        log_features_input(db_uri, a.table, a.features.datasets, keys, "analysis")
        metrics = {f"quality_{k}": v for k, v in s.get("quality", {}).items() if np.isfinite(v)}
        metrics["rows"] = s["rows"]
        if "duplicates" in s:
            metrics.update(
                {f"duplicate_{k}": s["duplicates"][k] for k in ("groups", "redundant_rows", "leaking_groups")}
            )
        if "clusters" in s:
            metrics["clusters"] = s["clusters"]["count"]
        if "label_issues" in s:
            metrics["label_issues"] = s["label_issues"]["count"]
        mlflow.log_metrics(metrics)
        for path in files:
            mlflow.log_artifact(str(path))
        return run.info.run_id


def report(
    db_uri: str,
    encoder: str,
    dataset: str | None = None,
    what: list[str] | None = None,
    knobs: dict[str, Any] | None = None,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    output: str | None = None,
    tracking_uri: str | None = None,
    artifact_root: str | None = None,
    table: str | None = None,
) -> dict[str, Any]:
    """Analyse, write the files (``output``, default ``HOME/analysis/<table>``), log them; the summary back."""
    from embedforge.registry.modalities import modality_of_encoder
    from embedforge.registry.settings import Settings
    from embedforge.tasks.analyze import WHAT, Knobs, analyze

    a = analyze(
        db_uri,
        encoder,
        dataset=dataset,
        what=list(what or WHAT),
        knobs=Knobs(**(knobs or {})),
        weights=weights,
        options=options,
        table=table,
    )
    out = Path(output) if output else Settings().home / "analysis" / a.table
    files = write_files(a, out, modality_of_encoder(encoder).thumbnail)
    s = summary(a) | {"output": str(out), "files": [p.name for p in files], "table": a.table, "version": a.version}
    if tracking_uri and a.computed:
        s["run_id"] = log_run(a, files, db_uri, tracking_uri, artifact_root)
    return s
