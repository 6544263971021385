"""``embedforge search`` on time-series and cardiac tables: a query file written from a stored item finds it first."""

import numpy as np
import pytest

from embedforge.registry.datasets import open_dataset
from embedforge.tasks.embed import embed_shard, plan_embedding
from tests.flows.test_cli import cli


def _embed(tmp_path, ref, encoder, weights=None, name="d"):
    """Embed through the tasks (no Prefect run needed for a search test)."""
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(dataset=ref, encoder=encoder, db_uri=db, work_dir=work, weights=weights, dataset_name=name)
    results = [
        embed_shard(shard_path=p, encoder=encoder, db_uri=db, weights=weights, batch_size=64) for p in plan.shards
    ]
    assert not any(r.failures for r in results)
    return db


def _first_hit(output: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith("│ 1 "))


def test_search_a_ucr_table_with_npy_csv_and_ts_queries(tmp_path):
    from embedforge.tasks.search import search_file

    ref = "ucr:GunPoint"
    db = _embed(tmp_path, ref, "timeseries/minirocket", weights=ref)
    ds = open_dataset(ref)
    item = next(it for it in ds.items() if it.id == "test/17")
    same = {it.id for it in ds.items() if it.content_hash == item.content_hash}  # duplicates tie at distance 0
    values = ds.load(item).values  # (1, 150)
    np.save(tmp_path / "q.npy", values)
    out = cli("search", "--encoder", "timeseries/minirocket", "--weights", ref, "--query", str(tmp_path / "q.npy"),
              "-k", "3", "--db", db)  # fmt: skip
    assert out.exit_code == 0, out.output
    first = _first_hit(out.output)
    assert any(f" {i} " in first for i in same) and "0.0000" in first, out.output

    (tmp_path / "q.csv").write_text("value\n" + "\n".join(f"{v:.9g}" for v in values[0]) + "\n")
    (tmp_path / "q.ts").write_text(
        "@problemName q\n@timeStamps false\n@univariate true\n@classLabel false\n@data\n"
        + ",".join(f"{v:.9g}" for v in values[0])
        + "\n"
    )
    for query in ("q.csv", "q.ts"):
        hits = search_file(db_uri=db, encoder="timeseries/minirocket", path=str(tmp_path / query), k=2, weights=ref)
        assert hits[0]["id"] in same and hits[0]["_distance"] < 1e-6, (query, hits[0])


@pytest.fixture
def ecg_records(tmp_path):
    """Four 10 s two-channel WFDB records (one window each) from the ecgsim adapter's simulated ECG/PPG."""
    import wfdb

    sim = open_dataset("ecgsim:4", seed="3")
    root = tmp_path / "wfdb"
    root.mkdir()
    for it in sim.items():
        sample = sim.load(it)
        name = it.id.split("/")[0]
        wfdb.wrsamp(name, fs=sample.sample_rate, units=["mV", "NU"], sig_name=list(sample.leads),
                    p_signal=sample.values.T.astype(np.float64), fmt=["16", "16"], write_dir=str(root))  # fmt: skip
    return root


def test_search_a_cardiac_table_with_a_wfdb_record_and_an_array(tmp_path, ecg_records):
    from embedforge.tasks.search import search_file

    root = ecg_records
    db = _embed(tmp_path, f"wfdb:{root}", "cardiac/spectrum", name="rec")
    out = cli("search", "--encoder", "cardiac/spectrum", "--query", str(root / "sim0002.hea"), "-k", "4", "--db", db)
    assert out.exit_code == 0, out.output
    first = _first_hit(out.output)
    assert "sim0002/0" in first and "0.0000" in first, out.output

    stored = open_dataset(f"wfdb:{root}")
    sample = stored.load(next(it for it in stored.items() if it.id == "sim0001/0"))
    header = ",".join(sample.leads)  # II,PPG: the CSV header names the leads
    rows = "\n".join(",".join(f"{v:.9g}" for v in row) for row in sample.values.T)
    (tmp_path / "q.csv").write_text(f"{header}\n{rows}\n")
    hits = search_file(db_uri=db, encoder="cardiac/spectrum", path=str(tmp_path / "q.csv"), k=2)
    assert hits[0]["id"] == "sim0001/0" and hits[0]["_distance"] < 1e-5, hits


def test_search_names_an_unreadable_query(tmp_path, arrays_dir):
    db = _embed(tmp_path, f"arrays:{arrays_dir}", "test/tiny")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    out = cli("search", "--encoder", "test/tiny", "--query", str(bad), "--db", db)
    assert out.exit_code == 1 and "search failed" in out.output and "bad.npy" in out.output, out.output
