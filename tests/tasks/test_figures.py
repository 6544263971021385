"""Every figure kind people look at: at least 600 px, and no text cut off at the borders of the image."""

from __future__ import annotations

import io

import numpy as np
import pytest


def assert_readable(fig, min_px: int = 600) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.savefig(io.BytesIO(), format="png")  # lays the figure out as it is logged
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height()
    assert min(width, height) >= min_px, (width, height)
    renderer = canvas.get_renderer()
    box = fig.bbox
    drawn = [(f"axes {ax.get_title()[:40]!r}", ax.get_tightbbox(renderer)) for ax in fig.axes]  # what is drawn
    drawn += [(f"text {t.get_text()!r}", t.get_window_extent(renderer)) for t in fig.texts if t.get_text().strip()]
    for what, extent in drawn:
        inside = box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1 and box.y0 - 1 <= extent.y0
        assert inside and extent.y1 <= box.y1 + 1, f"{what} cut off: {extent} outside {box}"


@pytest.mark.parametrize("n_classes", [2, 7, 25])
def test_confusion_matrix_is_readable_with_counts_and_shares(n_classes):
    from embedforge.tasks.scoring import confusion_figure

    rng = np.random.default_rng(0)
    y = np.array([f"class {i % n_classes}" for i in range(200)])
    pred = np.where(rng.random(200) < 0.7, y, rng.choice(y, 200))
    fig = confusion_figure(y, pred, "classify/logreg on video/efficientnet-lite0 · ucf101-split1: label")
    assert_readable(fig)
    title = fig.axes[0].get_title()
    assert "accuracy" in title and "n = 200" in title and "classify/logreg" in title
    assert len(fig.axes) == 2  # the matrix and its colour bar
    if n_classes <= 20:
        cells = [t.get_text() for t in fig.axes[0].texts]
        assert len(cells) == n_classes**2 and all("\n" in c and c.endswith("%") for c in cells)


def test_parity_plot_names_its_numbers():
    from embedforge.tasks.scoring import parity_figure

    y = np.linspace(50, 120, 40)
    fig = parity_figure(y, y + np.random.default_rng(1).normal(0, 3, 40), "regress/ridge on cardiac/spectrum · "
                        "ecgsim-60: heart_rate", unit="bpm")  # fmt: skip
    assert_readable(fig)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "MAE" in texts and "R²" in texts and "n = 40" in texts and "bpm" in texts


def test_leaderboard_heatmap_is_readable(tmp_path):
    from matplotlib.image import imread

    from embedforge.tasks.report import heatmap

    rows = [
        {"encoder": f"timeseries/enc{e}", "augmentation": "none", "head": h, "task": "classification",
         "dataset": d, "accuracy": 0.5 + 0.1 * e, "transform": "none"}
        for e in range(3) for h in ("classify/logreg", "classify/ridge") for d in ("GunPoint", "ItalyPowerDemand")
    ]  # fmt: skip
    path = heatmap(rows, str(tmp_path / "board.png"))
    height, width = imread(path).shape[:2]
    assert min(height, width) >= 300
    from embedforge.tasks.report import _short_labels, pivot

    labels, prefix = _short_labels(pivot(rows, "accuracy")[0])
    assert prefix == "timeseries/" and labels[0] == "enc0 | none | classify/logreg"
