"""``embedforge index`` and ``embedforge transform`` on a real store, as a user runs them."""

import numpy as np
from typer.testing import CliRunner

from embedforge.flows.cli import build_app
from embedforge.tasks.index import index_info
from embedforge.tasks.store import VectorStore
from embedforge.tasks.transforms import lineage

IDENTITY = {"name": "test/tiny", "dim": 8, "fingerprint": "tiny-seed:0", "weights": "seed:0", "input": {}}


def filled(tmp_path, n=3000):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 8))
    x = centres[rng.integers(0, 20, n)] + 0.2 * rng.standard_normal((n, 8))
    db = str(tmp_path / "db")
    rows = [
        dict(
            id=f"v{i}",
            uri="",
            content_hash=f"h{i}",
            split="train" if i % 2 else "test",
            group=None,
            labels={},
            dataset="d",
            vector=v,
        )
        for i, v in enumerate(x.astype(np.float32))
    ]
    VectorStore(db).upsert("test__tiny", IDENTITY, rows)
    return db


def test_index_command_builds_and_records_a_tuned_index(tmp_path):
    db = filled(tmp_path)
    out = CliRunner().invoke(
        build_app(), ["index", "--encoder", "test/tiny", "--db", db, "--partitions", "4"], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    assert "IVF_HNSW_SQ" in out.output and "num_partitions=4" in out.output
    info = index_info(VectorStore(db).db.open_table("test__tiny"))
    assert info["build"]["num_partitions"] == 4 and info["search"]["recall_at_10"] >= 0.97
    bad = CliRunner().invoke(build_app(), ["index", "--encoder", "test/tiny", "--db", db, "--type", "HNSW"])
    assert bad.exit_code != 0 and "IVF_HNSW_SQ" in bad.output


def test_transform_command_makes_a_derived_table(tmp_path):
    db = filled(tmp_path)
    out = CliRunner().invoke(
        build_app(), ["transform", "pca", "--encoder", "test/tiny", "-k", "4", "--db", db], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    assert "test__tiny--pca4" in out.output and "32 -> 16" in out.output and "1500 rows (train)" in out.output
    assert lineage(VectorStore(db), "test__tiny--pca4")["source_table"] == "test__tiny"
    bad = CliRunner().invoke(build_app(), ["transform", "zip", "--encoder", "test/tiny", "--db", db])
    assert bad.exit_code != 0 and "unknown transform 'zip'" in bad.output
