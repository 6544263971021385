"""The console script end to end, as a user runs it: a real process against the session's Prefect API."""

import os
import subprocess
import sys
from types import SimpleNamespace

from typer.testing import CliRunner

from embedforge.flows.cli import build_app

runner = CliRunner()


def cli(*args: str) -> SimpleNamespace:
    """Run ``embedforge ARGS`` in a subprocess wired to the test Prefect server."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value() or "", COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )
    return SimpleNamespace(exit_code=done.returncode, output=done.stdout + done.stderr)


def test_embed_search_failures(prefect_harness, arrays_dir, tmp_path):
    db = str(tmp_path / "db")
    (arrays_dir / "broken.npy").write_bytes(b"\x00")
    out = cli(
        "embed",
        "--dataset",
        f"arrays:{arrays_dir}",
        "--encoder",
        "test/tiny",
        "--db",
        db,
        "--name",
        "a",
        "--shard-size",
        "5",
    )
    assert out.exit_code == 0, out.output
    assert "embedded 12" in out.output and "failed 1" in out.output and "broken.npy" in out.output, out.output[-3000:]
    again = cli("embed", "--dataset", f"arrays:{arrays_dir}", "--encoder", "test/tiny", "--db", db, "--name", "a")
    assert "embedded 0" in again.output and "skipped as already known 12" in again.output, again.output[-3000:]

    found = cli("search", "--encoder", "test/tiny", "--query", str(arrays_dir / "s04.npy"), "-k", "3", "--db", db)
    assert found.exit_code == 0, found.output
    first = next(line for line in found.output.splitlines() if line.strip().startswith("│ 1"))
    assert "s04.npy" in first and "0.0000" in first

    failed = cli("failures", "--encoder", "test/tiny", "--db", db)
    assert "broken.npy" in failed.output and "cannot read" in failed.output


def test_encoders_lists_registry_with_availability():
    out = CliRunner().invoke(build_app(), ["encoders"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "speech/ge2e" in out.output and "speech/ecapa-voxceleb" in out.output and "test/tiny" in out.output
    ge2e = next(line for line in out.output.splitlines() if "speech/ge2e" in line)
    assert "yes" in ge2e and "256" in ge2e


def test_bad_option_is_a_clear_error():
    out = runner.invoke(build_app(), ["embed", "--dataset", "arrays:/x", "--encoder", "test/tiny", "-o", "novalue"])
    assert out.exit_code != 0 and "KEY=VALUE" in out.output


def test_home_flag_holds_the_prefect_home(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "EMBEDFORGE_HOME")}
    home = tmp_path / "new-home"
    done = subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", "--home", str(home), "encoders"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (home / "prefect").is_dir()  # Prefect's ephemeral SQLite cannot create a missing folder


def test_train_head_mistakes_are_one_line_before_any_flow(arrays_dir, tmp_path):
    """No table for these weights, a dataset the table lacks, several datasets and none named: exit 2, one line
    naming what to pass, no Prefect run and no traceback."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    db = str(tmp_path / "db")
    for name in ("a", "b"):
        plan = plan_embedding(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db,
                              work_dir=str(tmp_path / "w"), dataset_name=name)  # fmt: skip
        for shard in plan.shards:
            embed_shard(shard_path=shard, encoder="test/tiny", db_uri=db)
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}  # nothing answers there: a flow run would fail loudly
    cases = [
        (["--weights", str(tmp_path / "other")], "its tables here: test__tiny (weights"),
        (["--dataset", "c"], "holds no dataset 'c'; it holds a, b"),
        ([], "the table holds 2 datasets (a, b): pass --dataset NAME"),
    ]
    for extra, expected in cases:
        out = subprocess.run([sys.executable, "-m", "embedforge.flows.cli", "train", "head", "--encoder", "test/tiny",
                              "--db", db, *extra], env=dict(os.environ, COLUMNS="300", **env),
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        text = out.stdout + out.stderr
        assert out.returncode == 2 and expected in text, text[-2000:]
        assert "Traceback" not in text and len(text.strip().splitlines()) == 1, text[-2000:]
