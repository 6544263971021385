"""The slide attention heatmap on a real slide (CMU-1-Small-Region, 0.499 um/px): perceptual colours, a scale bar
of the right length, the verdict in the title, nothing cut off."""

from __future__ import annotations

import numpy as np

from tests.modalities.pathology.test_slides import _cmu
from tests.tasks.test_figures import assert_readable


def test_attention_heatmap_has_a_scale_bar_and_a_perceptual_map():
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    from embedforge.modalities.pathology.heatmap import heatmap_figure

    coords = [{"x": x, "y": y, "extent": 256} for x in range(0, 2000, 256) for y in range(0, 2700, 256)]
    attention = np.random.default_rng(0).random(len(coords))
    fig = heatmap_figure(str(_cmu()), coords, attention, "CMU-1 — true: tumor · predicted: tumor (p = 0.93)")
    assert_readable(fig, min_px=500)
    ax = fig.axes[0]
    assert ax.images[1].get_cmap().name == "inferno"
    (bar,) = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    label = bar.txt_label.get_text()
    assert label in ("100 µm", "200 µm", "500 µm")  # a fifth of 2220 px x 0.499 um/px ~ 220 um
    assert "true: tumor · predicted: tumor" in ax.get_title()
