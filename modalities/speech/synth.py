"""A numpy source-filter voice synthesizer whose formants follow the speaker's height.

Glottal pulses (pitch by sex, with jitter and vibrato) pass through formant resonators of a
uniform tube whose length grows with height, so F_n = (2n-1)c/(4L) shifts down for taller
speakers. It gives demos and tests a speaker-height ground truth that a real speaker encoder
can pick up, without any recordings.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SOUND_SPEED = 35000.0  # cm/s, warm humid air
NEUTRAL_LENGTH = 17.5  # cm: the tube the vowel table below is relative to
# Peterson & Barney adult-male F1..F3 (Hz), expressed relative to a neutral 17.5 cm tube.
VOWELS = np.array(
    [
        [270, 2290, 3010],  # i
        [390, 1990, 2550],  # I
        [530, 1840, 2480],  # E
        [660, 1720, 2410],  # ae
        [730, 1090, 2440],  # a
        [570, 840, 2410],  # o
        [440, 1020, 2240],  # U
        [300, 870, 2240],  # u
        [520, 1190, 2390],  # V
        [490, 1350, 1690],  # er
    ],
    dtype=float,
) / (SOUND_SPEED / (4 * NEUTRAL_LENGTH) * np.array([1, 3, 5]))
BANDWIDTHS = np.array([70.0, 100.0, 140.0, 200.0, 250.0])


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: height drives vocal-tract length; sex drives pitch."""

    speaker_id: str
    sex: str  # "m" | "f"
    height_cm: float
    f0: float  # mean pitch, Hz
    tract_cm: float  # vocal-tract length


def make_voice(speaker_id: str, sex: str, height_cm: float, rng: np.random.Generator) -> Voice:
    """Draw a speaker's pitch and vocal-tract length (VTL ~ 0.085 * height, small personal offset)."""
    f0 = rng.uniform(100, 130) if sex == "m" else rng.uniform(190, 230)
    tract = 0.085 * height_cm + (0.5 if sex == "m" else 0.0) + rng.normal(0, 0.15)
    return Voice(speaker_id, sex, float(height_cm), float(f0), float(tract))


def synthesize(voice: Voice, seconds: float, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One utterance: a random vowel sequence in this voice, peak-normalised float32."""
    n = int(seconds * sr)
    source = _glottal_source(voice.f0, n, sr, rng)
    out = np.zeros(n)
    for start, stop, vowel in _segments(n, sr, rng):
        out[start:stop] += _vowel(source[start:stop], voice.tract_cm, vowel, sr, rng)
    out += rng.normal(0, 0.003, n) * np.abs(out).max()
    return (0.7 * out / np.abs(out).max()).astype(np.float32)


def _glottal_source(f0: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Rosenberg pulses differentiated for lip radiation; pitch drifts, wobbles and jitters."""
    t = np.arange(n) / sr
    drift = np.interp(t, np.linspace(0, t[-1], 6), rng.normal(0, 0.05, 6))
    vibrato = 0.01 * np.sin(2 * np.pi * rng.uniform(4, 6) * t + rng.uniform(0, 2 * np.pi))
    jitter = np.repeat(rng.normal(0, 0.01, n // 80 + 1), 80)[:n]
    freq = f0 * (1 + drift + vibrato + jitter - 0.08 * t / t[-1])
    phase = np.cumsum(freq / sr) % 1.0
    opening, closing = 0.4, 0.16
    pulse = np.where(
        phase < opening,
        0.5 * (1 - np.cos(np.pi * phase / opening)),
        np.where(phase < opening + closing, np.cos(0.5 * np.pi * (phase - opening) / closing), 0.0),
    )
    return np.diff(pulse, prepend=0.0)


def _segments(n: int, sr: int, rng: np.random.Generator):
    """Overlapping windows of 120-300 ms, each a random vowel; short gaps between words."""
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.12, 0.30) * sr)
        stop = min(n, pos + length)
        yield pos, stop, int(rng.integers(len(VOWELS)))
        gap = int(rng.uniform(0.04, 0.12) * sr) if rng.random() < 0.25 else 0
        pos = stop - int(0.03 * sr) + gap


def _vowel(source: np.ndarray, tract_cm: float, vowel: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Filter a source segment through five formant resonators of this tube and vowel, then fade."""
    from scipy.signal import sosfilt

    neutral = SOUND_SPEED / (4 * tract_cm) * (2 * np.arange(1, 6) - 1)
    shape = np.concatenate([VOWELS[vowel], [1.0, 1.0]]) * rng.normal(1, 0.02, 5)
    y = sosfilt(_resonators(neutral * shape, BANDWIDTHS, sr), source)
    return y * np.hanning(len(y)) ** 0.5


def _resonators(freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
    """Second-order all-pole sections (unit gain at DC) for each formant below Nyquist."""
    keep = freqs < 0.45 * sr
    r = np.exp(-np.pi * bws[keep] / sr)
    theta = 2 * np.pi * freqs[keep] / sr
    a1, a2 = -2 * r * np.cos(theta), r * r
    gain = 1 + a1 + a2
    zeros = np.zeros_like(r)
    return np.stack([gain, zeros, zeros, np.ones_like(r), a1, a2], axis=1)


def _test_speakers(sexes: np.ndarray, fraction: float, rng: np.random.Generator) -> set[int]:
    """Hold out the same fraction of each sex (at least one of each when present)."""
    test: set[int] = set()
    for sex in ("m", "f"):
        idx = np.flatnonzero(sexes == sex)
        if idx.size:
            test.update(rng.choice(idx, size=max(1, round(fraction * idx.size)), replace=False).tolist())
    return test


def make_voxceleb_dataset(
    root: str | Path,
    n_speakers: int = 40,
    utts_per_speaker: int = 4,
    seed: int = 0,
    seconds: float = 3.0,
    test_fraction: float = 0.3,
) -> Path:
    """Write ``wav/idXXXXX/<video>/<n>.wav`` (16 kHz) and a HeightCeleb-format CSV; return the CSV path."""
    import soundfile as sf

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    sexes = np.array(["m", "f"] * (n_speakers // 2 + 1))[:n_speakers]
    rng.shuffle(sexes)
    test = _test_speakers(sexes, test_fraction, rng)
    for i, sex in enumerate(sexes):
        height = rng.normal(178, 7) if sex == "m" else rng.normal(165, 7)
        voice = make_voice(f"id{10001 + i:05d}", str(sex), round(float(height), 1), rng)
        for u in range(utts_per_speaker):
            path = root / "wav" / voice.speaker_id / f"vid{u // 2:02d}" / f"{u + 1:05d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), synthesize(voice, seconds, rng), SAMPLE_RATE, subtype="PCM_16")
        rows.append((voice.speaker_id, voice.height_cm, sex.upper(), "TEST" if i in test else "TRAIN"))
    table = root / "height_celeb.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["VoxCeleb1 ID", "height", "sex", "split"])
        writer.writerows(rows)
    return table


def make_timit_dataset(
    root: str | Path, n_speakers: int = 12, utts_per_speaker: int = 3, seed: int = 1, seconds: float = 3.0
) -> Path:
    """Write a TIMIT-layout corpus (``TRAIN|TEST/DR1/<sex><id>/*.WAV`` + ``DOC/SPKRINFO.TXT``, heights in ft/in)."""
    import soundfile as sf

    root = Path(root)
    rng = np.random.default_rng(seed)
    lines = [";  ID  Sex DR Use  RecDate    BirthDate  Ht    Race Edu"]
    for i in range(n_speakers):
        sex = "M" if i % 2 == 0 else "F"
        inches = round((rng.normal(178, 7) if sex == "M" else rng.normal(165, 7)) / 2.54)
        spk = f"S{i:02d}0"
        split, use = ("TEST", "TST") if i % 3 == 0 else ("TRAIN", "TRN")
        voice = make_voice(spk, sex.lower(), inches * 2.54, rng)
        folder = root / split / "DR1" / f"{sex}{spk}"
        folder.mkdir(parents=True, exist_ok=True)
        for u in range(utts_per_speaker):
            sf.write(
                str(folder / f"SX{u + 1}.WAV"),
                synthesize(voice, seconds, rng),
                SAMPLE_RATE,
                subtype="PCM_16",
                format="WAV",
            )
        lines.append(f"  {spk}  {sex}  1  {use}  03/03/86  06/17/60   {inches // 12}'{inches % 12}\"  WHT  BS")
    (root / "DOC").mkdir(parents=True, exist_ok=True)
    (root / "DOC" / "SPKRINFO.TXT").write_text("\n".join(lines) + "\n")
    return root
