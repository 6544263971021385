"""A raw-input model's MLflow input example is a stored item's own bytes, only where one file is one request."""

from __future__ import annotations

import base64
import io

import numpy as np

from embedforge.tasks import tracking
from embedforge.tasks.tracking import raw_example


def _npy(path, n):
    buf = io.BytesIO()
    np.save(buf, np.arange(n, dtype=np.float32))
    path.write_bytes(buf.getvalue())
    return str(path)


def test_the_smallest_decodable_file_is_the_example(tmp_path):
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"not an array")  # smallest, but the modality's decoder refuses it
    small, large = _npy(tmp_path / "small.npy", 50), _npy(tmp_path / "large.npy", 500)
    example = raw_example("timeseries", [str(broken), large, small, None])
    assert list(example.columns) == ["series"]
    assert base64.b64decode(example["series"][0]) == (tmp_path / "small.npy").read_bytes()


def test_rows_of_one_file_or_oversized_files_give_no_example(tmp_path, monkeypatch):
    assert raw_example("timeseries", ["/data/GunPoint_TRAIN.ts#3", None]) is None  # not a file of its own
    big = _npy(tmp_path / "big.npy", 1000)
    monkeypatch.setattr(tracking, "RAW_EXAMPLE_BYTES", 1000)
    assert raw_example("timeseries", [big]) is None
