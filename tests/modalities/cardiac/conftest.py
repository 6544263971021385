"""Real ECG for the cardiac tests: 5 min of MIT-BIH (360 Hz) from the scipy 1.13.1 wheel, cached, never committed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ECG_SHA256 = "f20ad3365fb9b7f845d0e5c48b6fe67081377ee466c3a220b7f69f35c8958baf"
ECG_RATE = 360.0
# The wheel for one fixed platform, so every host fetches the same file (ecg.dat is in all of them).
PIP_ARGS = [
    "download",
    "scipy==1.13.1",
    "--no-deps",
    "--only-binary=:all:",
    "--python-version",
    "3.11",
    "--platform",
    "manylinux2014_x86_64",
    "--quiet",
]


def asset_dir() -> Path:
    """Where test assets are cached (outside the repository)."""
    root = os.environ.get("EMBEDFORGE_TEST_ASSETS", "~/.cache/embedforge-test-assets")
    return Path(root).expanduser()


def fetch_ecg_dat(target: Path) -> str | None:
    """Pull ``scipy/misc/ecg.dat`` out of the scipy 1.13.1 wheel via pip; None on success, else why not."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", *PIP_ARGS, "-d", tmp], capture_output=True, text=True, timeout=300
        )
        wheels = list(Path(tmp).glob("scipy-1.13.1-*.whl"))
        if done.returncode != 0 or not wheels:
            return f"pip could not fetch the scipy 1.13.1 wheel: {done.stderr.strip()[-300:]}"
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read("scipy/misc/ecg.dat")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return None


@pytest.fixture(scope="session")
def mitbih_ecg() -> np.ndarray:
    """MIT-BIH ECG in mV, 108000 samples at 360 Hz (scipy's ``electrocardiogram()``)."""
    path = asset_dir() / "scipy-1.13.1-ecg.dat"
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != ECG_SHA256:
        path.unlink()  # a corrupt cache is fetched again
    if not path.exists():
        reason = fetch_ecg_dat(path)
        if reason:
            pytest.skip(reason)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ECG_SHA256, f"fetched {path} has the wrong hash"
    with np.load(path) as f:
        return (f["ecg"].astype(np.float64) - 1024) / 200
