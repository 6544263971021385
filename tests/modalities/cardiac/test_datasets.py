"""Cardiac dataset adapters on real MIT-BIH samples written as WFDB records and arrays, and simulated ECG/PPG."""

import json

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.registry.datasets import open_dataset
from tests.modalities.cardiac.conftest import ECG_RATE

RATE = int(ECG_RATE)


def write_wfdb(folder, name, values, leads=("MLII",)):
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=RATE,
        units=["mV"] * len(leads),
        sig_name=list(leads),
        p_signal=values,
        fmt=["212"] * len(leads),
        write_dir=str(folder),
    )


@pytest.fixture
def wfdb_dir(tmp_path, mitbih_ecg):
    """Three 35 s MIT-BIH records (one in a subfolder); record 'broken' has lost its .dat file."""
    root = tmp_path / "wfdb"
    for k, name in enumerate(["r100", "r101", "broken"]):
        seg = mitbih_ecg[k * 35 * RATE : (k + 1) * 35 * RATE, None]
        write_wfdb(root / ("sub" if name == "r101" else ""), name, seg)
    (root / "broken.dat").unlink()
    (tmp_path / "labels.csv").write_text("record,rhythm,age,split,group\nr100,N,64,train,\nsub/r101,AF,71,test,p7\n")
    return root


def test_wfdb_records_become_10s_windows_with_labels(wfdb_dir, mitbih_ecg):
    ds = open_dataset(f"wfdb:{wfdb_dir}", labels=str(wfdb_dir.parent / "labels.csv"))
    items = {it.id: it for it in ds.items()}
    assert sorted(items) == [f"{r}/{k}" for r in ("broken", "r100", "sub/r101") for k in range(3)]
    first = items["sub/r101/1"]
    assert first.labels == {"rhythm": "AF", "age": 71} and first.split == "test" and first.group == "p7"
    assert items["r100/0"].labels == {"rhythm": "N", "age": 64} and items["r100/0"].group == "r100"
    assert items["broken/0"].labels == {} and items["broken/0"].split is None
    sample = ds.load(items["r100/2"])
    assert sample.values.shape == (1, 10 * RATE) and sample.sample_rate == ECG_RATE and sample.leads == ("MLII",)
    np.testing.assert_allclose(sample.values[0], mitbih_ecg[20 * RATE : 30 * RATE], atol=0.01)
    assert len({it.content_hash for it in items.values()}) == len(items)


def test_wfdb_record_missing_its_dat_fails_alone(wfdb_dir):
    ds = open_dataset(f"wfdb:{wfdb_dir}")
    loaded, errors = 0, {}
    for it in ds.items():
        try:
            ds.load(it)
            loaded += 1
        except ItemError as exc:
            errors[it.id] = str(exc)
    assert loaded == 6 and sorted(errors) == ["broken/0", "broken/1", "broken/2"]
    assert all("broken" in e and "missing its signal file broken.dat" in e for e in errors.values())


def test_wfdb_stride_and_kept_remainder_from_string_options(wfdb_dir):
    ds = open_dataset(f"wfdb:{wfdb_dir}", stride_seconds="5", remainder="keep")
    ids = [it.id for it in ds.items() if it.id.startswith("r100/")]
    assert len(ids) == 6  # starts 0,5,...,25 s; the last is the 25-35 s window
    tail = ds.load(next(it for it in ds.items() if it.id == "r100/5"))
    assert tail.values.shape[1] == 10 * RATE
    short = open_dataset(f"wfdb:{wfdb_dir}", window_seconds="15", remainder="keep")
    assert [ds_it.uri.rsplit("#")[1] for ds_it in short.items() if ds_it.id.startswith("r100/")] == [
        "0-5400",
        "5400-10800",
        "10800-12600",
    ]


def test_wfdb_embed_stage_records_the_broken_record_and_stores_the_rest(wfdb_dir, tmp_path):
    from embedforge.tasks.embed import embed_shard, plan_embedding
    from embedforge.tasks.features import load_features
    from embedforge.tasks.store import VectorStore

    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(
        dataset=f"wfdb:{wfdb_dir}",
        encoder="cardiac/spectrum",
        db_uri=db,
        work_dir=work,
        dataset_name="mit",
        shard_size=4,
    )
    results = [embed_shard(shard_path=p, encoder="cardiac/spectrum", db_uri=db, batch_size=4) for p in plan.shards]
    failed = {f["id"]: f["error"] for r in results for f in r.failures}
    assert sorted(failed) == ["broken/0", "broken/1", "broken/2"] and "broken.dat" in failed["broken/0"]
    feats = load_features(db, "cardiac/spectrum", "mit")
    assert len(feats.ids) == 6 and feats.X.shape == (6, 13 * 24)
    assert {f["id"] for f in VectorStore(db).failures(plan.table, "mit")} == set(failed)


def test_ecgarray_npy_csv_and_lead_names(tmp_path, mitbih_ecg):
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "two_leads.npy", np.stack([mitbih_ecg[: 25 * RATE], mitbih_ecg[RATE : 26 * RATE]], axis=1))
    (folder / "named.csv").write_text("MLII,label\n" + "\n".join(f"{v:.4f},0" for v in mitbih_ecg[: 12 * RATE]))
    np.savetxt(folder / "plain.csv", mitbih_ecg[: 10 * RATE], delimiter=",")
    np.save(folder / "empty.npy", np.zeros(0, dtype=np.float32))
    (folder / "corrupt.npy").write_bytes(b"not numpy")
    ds = open_dataset(f"ecgarray:{folder}", sample_rate="360", leads="")
    items = {it.id: it for it in ds.items()}
    assert sorted(items) == ["corrupt/0", "empty/0", "named/0", "plain/0", "two_leads/0", "two_leads/1"]
    named = ds.load(items["named/0"])
    assert named.leads == ("MLII",) and named.values.shape == (1, 10 * RATE)
    assert ds.load(items["plain/0"]).leads == ("II",)
    with pytest.raises(ItemError, match="two_leads/0: 2 unnamed channels"):
        ds.load(items["two_leads/0"])
    with pytest.raises(ItemError, match="empty/0: zero-length"):
        ds.load(items["empty/0"])
    with pytest.raises(ItemError, match="corrupt/0: cannot read"):
        ds.load(items["corrupt/0"])
    two = open_dataset(f"ecgarray:{folder / 'two_leads.npy'}", sample_rate=360, leads="II,V5")
    sample = two.load(two.items()[1])
    assert sample.leads == ("II", "V5") and sample.values.shape == (2, 10 * RATE)
    with pytest.raises(ValueError, match="sample_rate"):
        open_dataset(f"ecgarray:{folder}")


def test_ecgsim_is_deterministic_labelled_and_split():
    import neurokit2 as nk

    a, b = open_dataset("ecgsim:10", seed="3"), open_dataset("ecgsim:10", seed="3")
    items = a.items()
    assert [it.to_dict() for it in items] == [it.to_dict() for it in b.items()]
    assert [it.split for it in items].count("test") == 3 and len({it.group for it in items}) == 10
    first = a.load(items[0])
    np.testing.assert_array_equal(first.values, b.load(b.items()[0]).values)
    assert first.values.shape == (2, 2500) and first.leads == ("II", "PPG") and first.sample_rate == 250
    other = open_dataset("ecgsim:10", seed="4")
    assert other.items()[0].labels != items[0].labels
    assert other.items()[0].content_hash != items[0].content_hash
    for it in items[:3]:  # the label is the heart rate the signal really has
        hr = float(it.labels["heart_rate"])
        assert 50 <= hr <= 120
        _, info = nk.ecg_peaks(nk.ecg_clean(a.load(it).values[0], sampling_rate=250), sampling_rate=250)
        measured = 60 * 250 / np.diff(info["ECG_R_Peaks"]).mean()
        assert abs(measured - hr) < 4, (measured, hr)
    json.dumps([it.to_dict() for it in items])  # items travel in shard files


@pytest.mark.timeout(120)
def test_wfdb_a_folder_named_like_a_header_and_a_fifo_signal_fail_alone(wfdb_dir):
    import os
    import shutil

    (wfdb_dir / "dirrec.hea").mkdir()
    first = sorted(wfdb_dir.glob("*.hea"))[0]
    shutil.copy(first, wfdb_dir / "piped.hea")
    text = (wfdb_dir / "piped.hea").read_text().replace(first.stem + ".dat", "piped.dat")
    (wfdb_dir / "piped.hea").write_text(text.replace(first.stem, "piped", 1))
    os.mkfifo(wfdb_dir / "piped.dat")  # reading it would block forever
    ds = open_dataset(f"wfdb:{wfdb_dir}")
    errors = {}
    for it in ds.items():
        try:
            ds.load(it)
        except ItemError as exc:
            errors[it.id.split("/")[0]] = str(exc)
    assert {"dirrec", "piped", "broken"} <= set(errors), errors
    assert "not a regular file" in errors["piped"] and "dirrec" in errors["dirrec"]
