"""``embedforge benchmark pathology``: the MIL heads on the leaderboard, scored per slide, in the shared CSV."""

import csv

import pytest
from typer.testing import CliRunner

from embedforge.flows.cli import build_app
from tests.modalities.pathology.conftest import ENCODER, cohort_name


@pytest.mark.slow
def test_benchmark_pathology_cli(prefect_harness, cohort, cohort_db, tmp_path):
    root = cohort[0]
    board = tmp_path / "board.csv"
    args = ["benchmark", "pathology", "--encoders", ENCODER, "--datasets", f"slides:{root}",
            "--heads", "mil/mean,mil/abmil,mil/r2t", "--output", str(board), "--db", cohort_db,
            "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}"]  # fmt: skip
    out = CliRunner().invoke(build_app(), args, env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    with open(board) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["encoder", "dataset", "augmentation", "head", "accuracy"] and "auc" in rows[0]
    assert {r["head"] for r in rows} == {"mil/mean", "mil/abmil", "mil/r2t"}
    assert {r["dataset"] for r in rows} == {cohort_name(cohort)}  # the stored vectors were reused, not re-embedded
    n_test = {int(r["n_test"]) for r in rows}
    assert len(n_test) == 1 and n_test.pop() < 20  # slides, not tiles
    abmil = next(r for r in rows if r["head"] == "mil/abmil")
    assert float(abmil["accuracy"]) >= 0.8 and float(abmil["auc"]) >= 0.8, abmil
