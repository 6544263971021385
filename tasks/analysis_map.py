"""The map of a table: a 2-D layout (UMAP, or PCA when asked) as a self-contained HTML page and a PNG.

The page carries its data and its script inline (no CDN, no server): points coloured by cluster, label or outlier
score; hovering shows the item's id, dataset, label, cluster and, where the modality draws one, a thumbnail.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

MAX_THUMBNAILS = 300  # pictures embedded in the page (hover); the rest of the points show text only


def layout(Xn: np.ndarray, method: str = "umap", points: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn (all, or a seeded sample of ``points``) and their 2-D coordinates."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(Xn)) if len(Xn) <= points else np.sort(rng.choice(len(Xn), points, replace=False))
    S = Xn[rows]
    if method == "pca" or len(S) < 16:
        from sklearn.decomposition import PCA

        return rows, PCA(2, random_state=seed).fit_transform(S).astype(np.float32)
    import umap

    reducer = umap.UMAP(n_neighbors=min(15, len(S) - 1), metric="cosine", random_state=seed, n_jobs=1)
    return rows, np.asarray(reducer.fit_transform(S), dtype=np.float32)


def write_png(points: list[dict[str, Any]], colour: str, path: Path, title: str) -> Path:
    """A scatter of the map coloured by cluster (or label), with a legend of the largest groups."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 7), dpi=100)
    values = [str(p.get(colour)) for p in points]
    groups = sorted(set(values), key=lambda v: -values.count(v))
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")  # the page's palette
    for n, g in enumerate(groups):
        xy = np.array([(p["x"], p["y"]) for p, v in zip(points, values, strict=True) if v == g])
        ax.scatter(xy[:, 0], xy[:, 1], s=8, color=cmap(n % 20), label=g if n < 12 else None, alpha=0.8, lw=0)
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(groups) > 1:
        ax.legend(title=colour, fontsize=8, markerscale=2, loc="best", frameon=True)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def thumbnail_uri(image) -> str:
    """A PIL image as a small inline PNG (data URI)."""
    image = image.convert("RGB")
    image.thumbnail((128, 128))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def write_html(points: list[dict[str, Any]], path: Path, title: str) -> Path:
    """The interactive page: one file, its data and script inline."""
    page = (Path(__file__).with_name("map_page.html")).read_text()
    data = json.dumps(points, separators=(",", ":"), default=_plain).replace("</", "<\\/")
    page = page.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
