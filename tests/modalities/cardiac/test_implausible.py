"""Implausible cardiac input (too low a sampling rate, too short) is refused with the reason; good records stored."""

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.cardiac import signal
from embedforge.registry.encoders import build_encoder

RATE = 360


def test_the_limits_are_declared_in_the_encoders_input_spec():
    spec = build_encoder("cardiac/spectrum").spec
    assert spec.input["min_sample_rate_hz"] == {"ECG": 50.0, "PPG": 20.0} and spec.input["min_seconds"] == 1.0


def test_one_hertz_record_and_length_one_series_fail_with_the_reason_and_good_records_are_stored(tmp_path, mitbih_ecg):
    from embedforge.tasks.embed import embed_shard, plan_embedding
    from embedforge.tasks.store import VectorStore

    slow, fast = tmp_path / "slow", tmp_path / "fast"
    for folder, arrays in ((slow, {"hz1": np.arange(30.0) % 7}), (fast, {"good": mitbih_ecg[: 20 * RATE]})):
        folder.mkdir()
        for name, values in arrays.items():
            np.save(folder / f"{name}.npy", np.asarray(values, dtype=np.float32))
    np.save(fast / "one.npy", np.ones(1, dtype=np.float32))
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    stored, errors = 0, {}
    for folder, rate in ((slow, "1"), (fast, str(RATE))):
        plan = plan_embedding(
            dataset=f"ecgarray:{folder}",
            encoder="cardiac/spectrum",
            db_uri=db,
            work_dir=work,
            dataset_name=folder.name,
            options={"sample_rate": rate},
        )
        results = [embed_shard(shard_path=p, encoder="cardiac/spectrum", db_uri=db) for p in plan.shards]
        stored += sum(r.embedded for r in results)
        errors |= {f["id"]: f["error"] for f in VectorStore(db).failures(plan.table, folder.name)}
    assert stored == 2  # the two 10 s windows of the good record
    assert sorted(errors) == ["hz1/0", "hz1/1", "hz1/2", "one/0"]
    assert all("sampled at 1 Hz, ECG needs at least 50 Hz" in errors[f"hz1/{k}"] for k in range(3))
    assert "at least 1 s is needed" in errors["one/0"]


def test_low_rate_ppg_has_its_own_floor(mitbih_ecg):
    ppg = signal.CardiacSeries(np.sin(np.arange(300) / 25 * 2 * np.pi * 1.2)[None], 25.0, ("PPG",))
    assert signal.prepare(ppg, "w").channel_mask[signal.PPG_SLOT]
    slow = signal.CardiacSeries(np.sin(np.arange(100) / 10 * 2 * np.pi)[None], 10.0, ("PPG",))
    with pytest.raises(ItemError, match="PPG needs at least 20 Hz"):
        signal.prepare(slow, "w")
