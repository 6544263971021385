"""Attention over a slide: each tile of a bag coloured by its attention percentile, over the slide's thumbnail."""

from __future__ import annotations

from typing import Any

import numpy as np

SCALE_BARS_UM = (50, 100, 200, 500, 1000, 2000, 5000, 10000)  # a round length about a fifth of the width


def heatmap_figure(path: str, coords: list[dict[str, Any]], attention: np.ndarray, title: str):
    """Thumbnail with each tile coloured by its attention percentile (CLAM's display) in a perceptual colour
    map (inferno, not jet), a scale bar where the slide states its microns per pixel, and no wide margins."""
    from matplotlib.figure import Figure

    from embedforge.modalities.pathology.datasets import slide_mpp, slide_thumbnail

    image, scale = slide_thumbnail(path, max_side=1024)
    ranks = np.argsort(np.argsort(attention)) / max(1, len(attention) - 1)
    overlay = np.full(image.shape[:2], np.nan)
    for c, r in zip(coords, ranks):
        x0, y0 = int(c["x"] / scale), int(c["y"] / scale)
        side = max(1, round(c["extent"] / scale))
        overlay[y0 : y0 + side, x0 : x0 + side] = r
    aspect = image.shape[0] / image.shape[1]
    fig = Figure(figsize=(7.0, max(3.0, 6.2 * aspect + 0.8)), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(image)
    im = ax.imshow(overlay, cmap="inferno", alpha=0.5, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    _scale_bar(ax, slide_mpp(path), scale, image.shape[1])
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.01).set_label("attention percentile", fontsize=8)
    return fig


def _scale_bar(ax, mpp: float | None, scale: float, width_px: int) -> None:
    """A bar of a round length in microns, bottom left; nothing where the slide gives no pixel size."""
    if not mpp:
        return
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    um_per_px = mpp * scale
    target = width_px * um_per_px / 5
    length = min(SCALE_BARS_UM, key=lambda v: abs(v - target))
    text = f"{length / 1000:g} mm" if length >= 1000 else f"{length} µm"
    bar = AnchoredSizeBar(ax.transData, length / um_per_px, text, "lower left", pad=0.4, color="black",
                          frameon=True, size_vertical=max(1.0, width_px / 300))  # fmt: skip
    bar.patch.set_alpha(0.7)
    ax.add_artist(bar)
