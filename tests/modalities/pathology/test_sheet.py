"""``search --sheet`` on a pathology table: the hit tiles read back from their slides, one size, distance under each."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from embedforge.flows.cli import build_app
from tests.modalities.pathology.conftest import ENCODER, cohort_name
from tests.modalities.pathology.sheet_helpers import first_tile


def test_search_draws_the_hit_tiles(cohort, cohort_db, tmp_path):
    tile, item_id = first_tile(cohort[0])
    query = tmp_path / "query.png"
    Image.fromarray(tile).save(query)
    sheet = tmp_path / "sheet.png"
    args = ["search", "--encoder", ENCODER, "--db", cohort_db, "--dataset", cohort_name(cohort), "-k", "6"]
    out = CliRunner().invoke(build_app(), [*args, "--query", str(query), "--sheet", str(sheet)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "contact sheet written" in out.output and item_id in out.output
    drawn = np.asarray(Image.open(sheet).convert("RGB"))
    assert drawn.shape == (2 * 190, 5 * 164, 3)  # the query and 6 hits: two rows of five cells, 160-px tiles
    expected = np.asarray(Image.fromarray(tile).resize((160, 160)), dtype=float)
    shown = drawn[:160, :160].astype(float)  # the query first, framed in red
    assert (drawn[0, :160] == (210, 30, 30)).all() and (drawn[:160, 0] == (210, 30, 30)).all()
    assert np.abs(shown[3:-3, 3:-3] - expected[3:-3, 3:-3]).mean() < 2.0
    best = drawn[:160, 164 : 164 + 160].astype(float)  # the best hit is the query tile itself, read from its slide
    assert np.abs(best - expected).mean() < 2.0
