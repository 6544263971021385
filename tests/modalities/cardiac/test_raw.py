"""Cardiac query files and request bytes: WFDB records and ECG arrays to one CardiacSeries."""

import io

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.cardiac.raw import ARRAY_RATE, read_cardiac
from embedforge.registry.modalities import modality

RATE = 250


def wave(n_channels: int, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([np.sin(2 * np.pi * (1 + k) * t) for k in range(n_channels)]).astype(np.float32)


def test_wfdb_record_by_header_data_file_or_bare_name(tmp_path):
    import wfdb

    x = wave(2)
    wfdb.wrsamp("rec", fs=500, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=x.T.astype(np.float64),
                fmt=["16", "16"], write_dir=str(tmp_path))  # fmt: skip
    for name in ("rec.hea", "rec.dat", "rec"):
        s = read_cardiac(str(tmp_path / name))
        assert s.sample_rate == 500 and s.leads == ("MLII", "V1") and s.values.shape == x.shape
        np.testing.assert_allclose(s.values, x, atol=1e-3)


def test_wfdb_record_without_header_is_named(tmp_path):
    (tmp_path / "lost.dat").write_bytes(b"\x00" * 10)
    with pytest.raises(ItemError, match=r"lost\.dat: no WFDB header"):
        read_cardiac(str(tmp_path / "lost.dat"))


def test_arrays_at_250_hz_with_csv_header_leads_or_default_leads(tmp_path):
    x = wave(2)
    (tmp_path / "q.csv").write_text("II,PPG\n" + "\n".join(f"{a},{b}" for a, b in x.T) + "\n")
    s = read_cardiac(str(tmp_path / "q.csv"))
    assert s.sample_rate == ARRAY_RATE == RATE and s.leads == ("II", "PPG")
    np.testing.assert_allclose(s.values, x, atol=1e-6)
    np.save(tmp_path / "one.npy", wave(1)[0])
    assert read_cardiac(str(tmp_path / "one.npy")).leads == ("II",)
    np.save(tmp_path / "two.npy", x)
    with pytest.raises(ItemError, match=r"two\.npy: 2 unnamed channels"):
        read_cardiac(str(tmp_path / "two.npy"))


def test_request_bytes_decode_to_the_same_series(tmp_path):
    decode = modality("cardiac").raw_input.decode
    x = wave(12)
    buf = io.BytesIO()
    np.save(buf, x)
    s = decode(buf.getvalue(), "row 0")
    assert s.leads[:3] == ("I", "II", "III") and s.values.shape == (12, x.shape[1])
    csv = ("II\n" + "\n".join(str(v) for v in x[1]) + "\n").encode()
    assert decode(csv, "row 1").leads == ("II",)
    with pytest.raises(ItemError, match="row 2: empty"):
        decode(b"", "row 2")
    with pytest.raises(ItemError, match="row 3: cannot read ECG array"):
        decode(b"\x93NUMPYbroken", "row 3")
