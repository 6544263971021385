"""Time-series query files and request bytes: .npy, CSV and .ts to one Series; bad input names itself."""

import io

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.timeseries.raw import decode_series, read_series
from embedforge.registry.modalities import modality

X = np.array([[0.5, 1.5, -2.0, 3.25], [1.0, 0.0, 2.0, 4.0]], dtype=np.float32)  # 2 channels x 4 steps


def npy_bytes(values) -> bytes:
    buf = io.BytesIO()
    np.save(buf, values)
    return buf.getvalue()


def test_npy_keeps_channels_by_time_and_1d_becomes_one_channel(tmp_path):
    np.save(tmp_path / "m.npy", X)
    np.save(tmp_path / "u.npy", X[0])
    np.testing.assert_array_equal(read_series(str(tmp_path / "m.npy")).values, X)
    assert read_series(str(tmp_path / "u.npy")).values.shape == (1, 4)


def test_csv_columns_are_channels_and_a_header_is_skipped(tmp_path):
    (tmp_path / "m.csv").write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in X.T) + "\n")
    (tmp_path / "row.csv").write_text(",".join(str(v) for v in X[0]) + "\n")
    np.testing.assert_array_equal(read_series(str(tmp_path / "m.csv")).values, X)
    np.testing.assert_array_equal(read_series(str(tmp_path / "row.csv")).values, X[:1])


def test_ts_file_with_one_case_and_with_two(tmp_path):
    head = "@problemName q\n@timeStamps false\n@univariate true\n@classLabel false\n@data\n"
    (tmp_path / "one.ts").write_text(head + "1,2,3,4\n")
    (tmp_path / "two.ts").write_text(head + "1,2,3,4\n5,6,7,8\n")
    np.testing.assert_array_equal(read_series(str(tmp_path / "one.ts")).values, [[1, 2, 3, 4]])
    with pytest.raises(ItemError, match=r"two\.ts: a query \.ts file must hold one series, it holds 2"):
        read_series(str(tmp_path / "two.ts"))


def test_request_bytes_are_npy_or_csv_text():
    decode = modality("timeseries").raw_input.decode
    np.testing.assert_array_equal(decode(npy_bytes(X), "row 0").values, X)
    np.testing.assert_array_equal(decode(b"1,2\n3,4\n5,6\n", "row 0").values, [[1, 3, 5], [2, 4, 6]])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty series"),
        (b"\x93NUMPY garbage", "not a readable .npy"),
        (b"\xff\xfe\x00", "neither a .npy array nor CSV text"),
        (b"a,b\nx,y\n", "not a table of numbers"),
        (npy_bytes(np.zeros((2, 2, 2))), "expected a 1-D or channels x time series"),
        (npy_bytes(np.array([np.inf, 1.0])), "inf or no observed value"),
        (npy_bytes(np.array(["a", "b"])), "not numbers"),
    ],
)
def test_bad_request_bytes_name_the_row(data, reason):
    with pytest.raises(ItemError, match=f"row 3: .*{reason}"):
        decode_series(data, "row 3")


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ItemError, match="no such series file"):
        read_series(str(tmp_path / "nope.npy"))
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(ItemError, match="unsupported series file"):
        read_series(str(tmp_path / "x.wav"))
