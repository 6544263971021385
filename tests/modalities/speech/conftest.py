"""Shared speech fixtures: offline hub, the real GE2E encoder once per session, small WAV writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "heightceleb" / "height_celeb.csv"
HEIGHTCELEB_CSV = Path(os.environ.get("EMBEDFORGE_TEST_HEIGHTCELEB", _BESIDE_CHECKOUT))  # ../shared, never copied in


@pytest.fixture(scope="session")
def heightceleb_csv() -> Path:
    """The real HeightCeleb table (read in place, never copied into the repository)."""
    if not HEIGHTCELEB_CSV.is_file():
        pytest.skip(f"HeightCeleb table not at {HEIGHTCELEB_CSV} (set EMBEDFORGE_TEST_HEIGHTCELEB)")
    return HEIGHTCELEB_CSV


@pytest.fixture(scope="session")
def ge2e():
    """The real resemblyzer GE2E weights, loaded once."""
    from embedforge.registry.encoders import build_encoder

    return build_encoder("speech/ge2e")


@pytest.fixture()
def write_wav(tmp_path):
    """Write a float waveform (channels x samples or 1-D) as a WAV; returns its path."""
    import soundfile as sf

    def write(name: str, wave: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.asarray(wave, dtype=np.float32)
        sf.write(str(path), data.T if data.ndim == 2 else data, rate, subtype=subtype)
        return path

    return write
