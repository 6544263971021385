"""Small offline cardiac inputs (``Modality.examples``): a synthetic lead-II ECG, a ``.npy`` query, and datasets
for every adapter (simulated, ``.npy`` arrays with labels, a WFDB folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedforge.modalities.cardiac.signal import TARGET_RATE, WINDOW_SECONDS, CardiacSeries

# (offset in the beat, s; width, s; amplitude, mV): P wave, Q, R, S, T wave
WAVES = ((-0.20, 0.025, 0.12), (-0.03, 0.010, -0.10), (0.0, 0.012, 1.0), (0.03, 0.010, -0.25), (0.25, 0.040, 0.30))


def ecg(seed: int, seconds: float = WINDOW_SECONDS, rate: int = TARGET_RATE) -> np.ndarray:
    """A lead-II-like ECG in mV (Gaussian P-QRS-T beats at 55-95 bpm, baseline wander, noise), float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    period = 60.0 / rng.uniform(55, 95)
    beats = np.arange(0.3, seconds + period, period)
    x = np.zeros_like(t)
    for b in beats + rng.normal(0, 0.01, beats.size):
        for offset, width, amplitude in WAVES:
            x += amplitude * np.exp(-0.5 * ((t - b - offset) / width) ** 2)
    x += 0.05 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, np.pi)) + rng.normal(0, 0.01, t.size)
    return x.astype(np.float32)


def sample(seed: int) -> CardiacSeries:
    """One 10 s lead-II window at 250 Hz."""
    return CardiacSeries(ecg(seed)[None, :], float(TARGET_RATE), ("II",))


def query_file(folder: str, seed: int) -> str:
    """The same window as a ``.npy`` array (read at 250 Hz, one channel: lead II)."""
    path = Path(folder) / f"query{seed}.npy"
    np.save(path, sample(seed).values)
    return str(path)


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """``ecgsim`` (3 records), ``ecgarray`` (3 arrays, splits in labels.csv) and ``wfdb`` (2 records), 10 s each."""
    import wfdb

    root = Path(folder)
    arrays, records = root / "arrays", root / "wfdb"
    arrays.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        np.save(arrays / f"a{i}.npy", ecg(10 + i)[None, :])
    (root / "labels.csv").write_text("record,split\na0,train\na1,train\na2,test\n")
    for i in range(2):
        signal = ecg(20 + i)[:, None].astype(np.float64)
        wfdb.wrsamp(
            f"r{i}", fs=TARGET_RATE, units=["mV"], sig_name=["II"], p_signal=signal, fmt=["16"], write_dir=str(records)
        )
    return {
        "ecgsim": ("ecgsim:3", {"ppg": "false"}),
        "ecgarray": (f"ecgarray:{arrays}", {"sample_rate": TARGET_RATE, "labels": str(root / "labels.csv")}),
        "wfdb": f"wfdb:{records}",
    }
