"""Small offline speech inputs (``Modality.examples``): synthetic voices, a WAV query, VoxCeleb and TIMIT layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedforge.modalities.base import Audio
from embedforge.modalities.speech.synth import (
    SAMPLE_RATE,
    make_timit_dataset,
    make_voice,
    make_voxceleb_dataset,
    synthesize,
)

SECONDS = 1.5


def sample(seed: int) -> Audio:
    """One 1.5 s synthetic utterance (16 kHz mono); the seed picks the voice and the vowels."""
    rng = np.random.default_rng(seed)
    voice = make_voice(f"example{seed}", "mf"[seed % 2], 160.0 + 5.0 * (seed % 7), rng)
    return Audio(synthesize(voice, SECONDS, rng)[None, :], SAMPLE_RATE)


def query_file(folder: str, seed: int) -> str:
    """The same kind of utterance as a 16-bit WAV file."""
    import soundfile as sf

    path = Path(folder) / f"query{seed}.wav"
    sf.write(str(path), sample(seed).waveform[0], SAMPLE_RATE, subtype="PCM_16")
    return str(path)


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """A 4-speaker VoxCeleb layout (HeightCeleb table beside it) and a 3-speaker TIMIT layout, 1 s utterances."""
    root = Path(folder)
    make_voxceleb_dataset(root / "voxceleb", n_speakers=4, utts_per_speaker=2, seconds=1.0)
    make_timit_dataset(root / "timit", n_speakers=3, utts_per_speaker=1, seconds=1.0)
    return {"voxceleb": f"voxceleb:{root / 'voxceleb'}", "timit": f"timit:{root / 'timit'}"}
