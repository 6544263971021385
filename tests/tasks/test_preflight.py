"""Mistakes in a command are found before any work: one line, exit code 2; a run that embedded nothing fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from embedforge.tasks.preflight import PreflightError, check_benchmark, check_embed
from embedforge.tasks.report import failure_verdict


def test_adapter_and_encoder_of_different_modalities_are_refused(tmp_path):
    with pytest.raises(PreflightError, match="adapter 'ecgarray' reads cardiac data but encoder 'speech/ge2e'"):
        check_embed(f"ecgarray:{tmp_path}", "speech/ge2e", None)


def test_unknown_adapter_missing_path_and_fitted_encoder_without_weights(tmp_path):
    with pytest.raises(PreflightError, match="unknown dataset 'nosuch'"):
        check_embed(f"nosuch:{tmp_path}", "speech/ge2e", None)
    with pytest.raises(PreflightError, match="no such file or directory"):
        check_embed(f"voxceleb:{tmp_path}/absent", "speech/ge2e", None)
    with pytest.raises(PreflightError, match=r"timeseries/minirocket is fit on a dataset.*--weights"):
        check_embed("ucr:GunPoint", "timeseries/minirocket", None)


def test_benchmark_augmentation_without_a_sibling_is_an_error():
    check_benchmark("timeseries", ["timeseries/tirex"], ["diff"], [])  # timeseries/tirex-diff is registered
    with pytest.raises(PreflightError, match="--augment diff: timeseries/minirocket has no -diff sibling"):
        check_benchmark("timeseries", ["timeseries/tirex", "timeseries/minirocket"], ["diff"], [])
    with pytest.raises(PreflightError, match="head 'video/attention-pool' works on video vectors"):
        check_benchmark("timeseries", ["timeseries/minirocket"], [], ["video/attention-pool"])


def _summary(items, embedded, failed):
    return {"dataset": "d", "items": items, "embedded": embedded, "reused": 0, "skipped": 0, "failed": failed}


def test_failure_verdict_nothing_embedded_empty_and_max_failures():
    assert failure_verdict(_summary(2, 0, 2)) == "nothing was embedded and 2 item(s) failed"
    assert "holds no items" in failure_verdict(_summary(0, 0, 0))
    assert failure_verdict(_summary(10, 9, 1)) is None
    assert failure_verdict(_summary(10, 9, 1), "0.05") is not None and failure_verdict(_summary(10, 9, 1), "1") is None
    assert failure_verdict(_summary(100, 97, 3), "2") == "3 of 100 item(s) failed (--max-failures 2)"


def test_the_cli_says_it_in_one_line_with_exit_code_2_before_any_work(tmp_path):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", "embed", "--dataset", f"ecgarray:{tmp_path}",
         "--encoder", "speech/ge2e", "--db", str(tmp_path / "db")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: adapter 'ecgarray' reads cardiac data but encoder 'speech/ge2e' embeds speech: "
        "pick a speech adapter or a cardiac/* encoder"
    ]
    assert "Traceback" not in done.stdout + done.stderr and not (tmp_path / "db").exists()
    assert time.monotonic() - started < 60  # no Prefect server, no model load
