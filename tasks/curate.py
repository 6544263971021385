"""``embedforge curate``: a diverse subset of a table's rows, as a manifest ``embed`` and ``train head`` take back.

k-center greedy (Sener & Savarese's core-set): each pick is the row farthest from every row picked so far, so the
subset covers the space rather than its dense middle. ``dedup`` first drops every non-representative member of a
duplicate group (``analyze``'s dups, reused from the analysis table when up to date).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.tasks.neighbours import unit_rows


def k_center_greedy(Xn: np.ndarray, budget: int, seed: int = 0) -> list[int]:
    """``budget`` row numbers: the row nearest the mean first, then always the row farthest from those taken."""
    n = len(Xn)
    budget = min(budget, n)
    centre = Xn.mean(axis=0)
    first = int(np.argmax(Xn @ centre)) if seed == 0 else int(np.random.default_rng(seed).integers(n))
    picked, far = [first], 1.0 - Xn @ Xn[first]
    for _ in range(budget - 1):
        nxt = int(np.argmax(far))
        picked.append(nxt)
        np.minimum(far, 1.0 - Xn @ Xn[nxt], out=far)
    return picked


def curate(
    db_uri: str,
    encoder: str,
    budget: int,
    output: str,
    dataset: str | None = None,
    dedup: bool = False,
    split: str | None = None,
    threshold: float = 0.95,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the manifest CSV (``dataset,id,split,label,uri,rank``); the pool, what dedup dropped and the coverage."""
    from embedforge.tasks.analyze import Knobs, analyze
    from embedforge.tasks.features import load_features

    if dedup:
        a = analyze(
            db_uri,
            encoder,
            dataset=dataset,
            what=["dups"],
            knobs=Knobs(threshold=threshold),
            weights=weights,
            options=options,
        )
        f, group, rep = a.features, a.columns["dup_group"], a.columns["dup_representative"]
    else:
        f = load_features(db_uri, encoder, dataset, weights, options)
    pool = np.arange(len(f.ids))
    if split:
        pool = pool[[f.split[i] == split for i in pool]]
    dropped = 0
    if dedup:
        keep = np.array([group[i] < 0 or bool(rep[i]) for i in pool], dtype=bool)
        dropped, pool = int((~keep).sum()), pool[keep]
    if budget < 1 or len(pool) == 0:
        raise ValueError(f"nothing to curate: budget {budget}, {len(pool)} rows in the pool")
    Xn = unit_rows(f.X[pool])
    picked = k_center_greedy(Xn, budget, seed)
    chosen = pool[picked]
    far = np.min(1.0 - Xn @ Xn[picked].T, axis=1)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "id", "split", "label", "uri", "rank"])
        for rank, i in enumerate(chosen.tolist(), 1):
            w.writerow([f.datasets[i], f.ids[i], f.split[i] or "", f.labels[i].get("label", ""), f.uris[i] or "", rank])
    return {
        "manifest": str(path),
        "picked": len(chosen),
        "pool": len(pool),
        "dropped_duplicates": dropped,
        "coverage_radius": float(far.max()),  # the largest cosine distance of a pool row to its nearest pick
    }
