"""Attention over a slide: each tile of a bag coloured by its attention percentile, over the slide's thumbnail."""

from __future__ import annotations

from typing import Any

import numpy as np


def heatmap_figure(path: str, coords: list[dict[str, Any]], attention: np.ndarray, title: str):
    """Thumbnail with each tile coloured by its attention percentile (CLAM's display)."""
    from matplotlib.figure import Figure

    from embedforge.modalities.pathology.datasets import slide_thumbnail

    image, scale = slide_thumbnail(path, max_side=1024)
    ranks = np.argsort(np.argsort(attention)) / max(1, len(attention) - 1)
    overlay = np.full(image.shape[:2], np.nan)
    for c, r in zip(coords, ranks):
        x0, y0 = int(c["x"] / scale), int(c["y"] / scale)
        side = max(1, round(c["extent"] / scale))
        overlay[y0 : y0 + side, x0 : x0 + side] = r
    fig = Figure(figsize=(6, 6 * image.shape[0] / image.shape[1] + 0.5), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(image)
    im = ax.imshow(overlay, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.04, label="attention percentile")
    return fig
