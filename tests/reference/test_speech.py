"""Speech encoders against their reference implementations, from audio FILES through our public path
(``read_audio`` -> ``preprocess`` -> ``encode``), the reference run on the same file:

* ``speech/ge2e`` vs ``resemblyzer.VoiceEncoder("cpu").embed_utterance(resemblyzer.preprocess_wav(path))`` with
  the real weights shipped in resemblyzer: 16, 22.05, 44.1 and 8 kHz, 1 to 40 s, mono and stereo, WAV and FLAC.
* ``speech/ecapa-voxceleb`` vs SpeechBrain's own ``EncoderClassifier.from_hparams(source=DIR, savedir=...)``
  ``.encode_batch(classifier.load_audio(path))`` on a local model directory in the hub repo's on-disk layout
  (random weights: the real ones cannot be had offline), with the same override of ``pretrained_path`` that a
  local copy of the hub repo needs.

The speech is real where pyannote.audio is installed (its ``sample/sample.wav``: 30 s, two speakers, looped to
40 s), otherwise synthetic voiced utterances with pauses long enough for resemblyzer's VAD to cut. Files at
other rates are written with scipy's polyphase resampler, which neither side uses: the file is just the input.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from embedforge.modalities.speech.audio import read_audio

RATE = 16000
COS = 0.99999


def _real_speech() -> Path | None:
    """pyannote.audio's bundled two-speaker recording, where that package is installed."""
    from importlib.util import find_spec

    try:
        spec = find_spec("pyannote.audio")  # imports the namespace package only, not pyannote.audio itself
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
    return path if path.is_file() else None


def _synthetic_speech(seconds: float) -> np.ndarray:
    """Utterances of two synthetic voices separated by pauses of 0.05 to 1 s, 16 kHz."""
    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(2024)
    voices = [make_voice("a", "f", 163.0, rng), make_voice("b", "m", 184.0, rng)]
    parts, total, k = [], 0, 0
    while total < seconds * RATE:
        utterance = synthesize(voices[k % 2], rng.uniform(0.8, 2.5), rng) * rng.uniform(0.2, 0.9)
        pause = rng.normal(0, 2e-4, int(rng.uniform(0.05, 1.0) * RATE)).astype(np.float32)
        parts += [utterance, pause]
        total, k = total + len(utterance) + len(pause), k + 1
    return np.concatenate(parts)[: int(seconds * RATE)].astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """40 s of 16 kHz speech: the real recording where installed, else synthetic."""
    path = _real_speech()
    if path is None:
        return _synthetic_speech(40)
    wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    if rate != RATE:
        wave = _resample(wave, rate, RATE)
    return np.resize(wave, 40 * RATE)  # looped


def _resample(wave: np.ndarray, source: int, target: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(source, target)
    return resample_poly(wave, target // g, source // g).astype(np.float32)


def _loudest(wave: np.ndarray, seconds: float) -> np.ndarray:
    """The most energetic ``seconds`` of the wave: a 1 s clip that is speech, not a pause."""
    n = int(seconds * RATE)
    if n >= len(wave):
        return wave
    energy = np.convolve(wave.astype(np.float64) ** 2, np.ones(n), mode="valid")
    start = int(np.argmax(energy[::160])) * 160
    return wave[start : start + n]


def write_case(speech: np.ndarray, root: Path, rate: int, seconds: float, channels: int, fmt: str) -> Path:
    """``seconds`` of the speech as a file at ``rate`` (stereo: a quieter, noisier second channel)."""
    wave = _loudest(speech, seconds) if seconds < 5 else speech[: int(seconds * RATE)]
    if rate != RATE:
        wave = _resample(wave, RATE, rate)
    if channels == 2:
        rng = np.random.default_rng(5)
        wave = np.stack([wave, 0.6 * wave + rng.normal(0, 2e-3, len(wave)).astype(np.float32)], axis=1)
    path = root / f"speech_{rate}_{seconds}s_{channels}ch.{fmt}"
    sf.write(str(path), wave, rate, subtype="PCM_16")
    return path


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------------------------------- GE2E

GE2E_CASES = [  # (rate, seconds, channels, format)
    (16000, 1, 1, "wav"),
    (16000, 5, 1, "wav"),
    (16000, 18, 1, "wav"),
    (16000, 40, 1, "wav"),
    (22050, 5, 1, "wav"),
    (22050, 18, 1, "flac"),
    (44100, 5, 2, "wav"),
    (44100, 18, 2, "flac"),
    (8000, 5, 1, "wav"),
    (8000, 40, 1, "flac"),
    (16000, 5, 2, "flac"),
]


@pytest.fixture(scope="module")
def resemblyzer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webrtcvad warns about pkg_resources
        import resemblyzer
    return resemblyzer


@pytest.fixture(scope="module")
def ge2e():
    from embedforge.modalities.speech.ge2e import probe
    from embedforge.registry.encoders import build_encoder

    reason = probe()
    if reason:
        pytest.skip(reason)
    return build_encoder("speech/ge2e")


@pytest.fixture(scope="module")
def reference_ge2e(resemblyzer):
    return resemblyzer.VoiceEncoder("cpu", verbose=False)


@pytest.fixture(scope="module")
def ge2e_files(speech, tmp_path_factory):
    root = tmp_path_factory.mktemp("ge2e-files")
    return {case: write_case(speech, root, *case) for case in GE2E_CASES}


@pytest.mark.parametrize("case", GE2E_CASES, ids=lambda c: f"{c[0]}Hz-{c[1]}s-{c[2]}ch-{c[3]}")
def test_ge2e_matches_resemblyzer_from_the_file(case, ge2e, reference_ge2e, resemblyzer, ge2e_files):
    path = ge2e_files[case]
    theirs_wave = resemblyzer.preprocess_wav(path)
    ours_wave = ge2e.preprocess(read_audio(path), str(path))
    assert np.array_equal(ours_wave, theirs_wave), "decode, mix, resample (soxr_hq), volume and VAD must agree"
    theirs = reference_ge2e.embed_utterance(theirs_wave)
    ours = ge2e.encode([ours_wave])[0]
    assert ours.shape == (256,) and ours.dtype == np.float32
    assert cosine(ours, theirs) >= COS


def test_ge2e_batch_of_mixed_files_matches_each_reference(ge2e, reference_ge2e, resemblyzer, ge2e_files):
    """Every case in one encode call (one partial chunk spans several files): each still its reference."""
    paths = list(ge2e_files.values())
    ours = ge2e.encode([ge2e.preprocess(read_audio(p), str(p)) for p in paths])
    for p, vector in zip(paths, ours):
        assert cosine(vector, reference_ge2e.embed_utterance(resemblyzer.preprocess_wav(p))) >= COS, p.name


def test_ge2e_spec_names_its_reference_and_recipe():
    from embedforge.modalities.speech.ge2e import SPEC

    assert "resemblyzer" in SPEC.reference and "embed_utterance" in SPEC.reference
    assert SPEC.recipe  # v2 changed vectors of > 10 s and non-16 kHz inputs: old tables refuse mixed writes


# ---------------------------------------------------------------------------------------------------- ECAPA

ECAPA_CASES = [
    (16000, 1, 1, "wav"),
    (16000, 5, 1, "wav"),
    (16000, 10, 1, "flac"),  # the longest input embedded whole
    (22050, 5, 1, "wav"),
    (44100, 5, 2, "flac"),
    (8000, 5, 1, "wav"),
    (48000, 3, 2, "wav"),
]


@pytest.fixture(scope="module")
def ecapa_dir(tmp_path_factory):
    from tests.modalities.speech.test_ecapa import write_model_dir

    return write_model_dir(tmp_path_factory.mktemp("spkrec-ecapa-reference"), seed=1)


@pytest.fixture(scope="module")
def ecapa(ecapa_dir, tmp_path_factory):
    from embedforge.registry.encoders import ENCODERS

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDFORGE_HOME", str(tmp_path_factory.mktemp("ecapa-home")))
        return ENCODERS.get("speech/ecapa-voxceleb").build(weights=str(ecapa_dir))


@pytest.fixture(scope="module")
def reference_ecapa(ecapa_dir, tmp_path_factory):
    from speechbrain.inference.speaker import EncoderClassifier

    classifier = EncoderClassifier.from_hparams(
        source=str(ecapa_dir),
        savedir=str(tmp_path_factory.mktemp("speechbrain-savedir")),
        overrides={"pretrained_path": str(ecapa_dir)},
    )
    return classifier.eval()


def _speechbrain_vector(classifier, path: Path) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return classifier.encode_batch(classifier.load_audio(str(path))).reshape(-1).numpy()


@pytest.fixture(scope="module")
def ecapa_files(speech, tmp_path_factory):
    root = tmp_path_factory.mktemp("ecapa-files")
    return {case: write_case(speech, root, *case) for case in ECAPA_CASES}


@pytest.mark.parametrize("case", ECAPA_CASES, ids=lambda c: f"{c[0]}Hz-{c[1]}s-{c[2]}ch-{c[3]}")
def test_ecapa_matches_speechbrain_from_the_file(case, ecapa, reference_ecapa, ecapa_files):
    path = ecapa_files[case]
    ours = ecapa.encode([ecapa.preprocess(read_audio(path), str(path))])[0]
    theirs = _speechbrain_vector(reference_ecapa, path)
    assert ours.shape == theirs.shape == (192,)
    assert cosine(ours, theirs) >= COS


def test_ecapa_batch_of_mixed_files_matches_each_reference(ecapa, reference_ecapa, ecapa_files):
    paths = list(ecapa_files.values())
    ours = ecapa.encode([ecapa.preprocess(read_audio(p), str(p)) for p in paths])
    for p, vector in zip(paths, ours):
        assert cosine(vector, _speechbrain_vector(reference_ecapa, p)) >= COS, p.name


def test_ecapa_over_ten_seconds_is_the_whole_utterance_vector(ecapa, reference_ecapa, speech, tmp_path):
    path = write_case(speech, tmp_path, 16000, 18, 1, "wav")
    ours = ecapa.encode([ecapa.preprocess(read_audio(path), str(path))])[0]
    assert cosine(ours, _speechbrain_vector(reference_ecapa, path)) >= COS


def test_ecapa_spec_names_its_reference_and_recipe():
    from embedforge.modalities.speech.ecapa import SPEC

    assert "EncoderClassifier.encode_batch" in SPEC.reference
    assert SPEC.recipe == "v3"  # v2: non-16 kHz inputs (SpeechBrain's resampler); v3: 10-300 s embedded whole
