"""``speech/ge2e``: the GE2E speaker encoder shipped inside resemblyzer (256-d, 16 kHz)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Audio, Encoder, EncoderSpec, ItemError
from embedforge.modalities.speech.audio import prepare
from embedforge.modalities.speech.devicemel import DeviceMel, span
from embedforge.registry.encoders import register_encoder

RATE = 16000
PARTIAL_RATE = 1.3  # partial windows per second, as in VoiceEncoder.embed_utterance
MIN_COVERAGE = 0.75
PARTIAL_FRAMES = 160  # mel frames of one partial (1.6 s)
INT16_MAX = (2**15) - 1
MAX_PARTIALS = 128  # per LSTM forward; bounds memory whatever the batch or utterance length

SPEC = EncoderSpec(
    name="speech/ge2e",
    dim=256,
    input={
        "sample_rate": RATE,
        "channels": 1,
        "mel_bands": 40,
        "window_ms": 25,
        "hop_ms": 10,
        "partial_frames": 160,
        "partial_rate": PARTIAL_RATE,
        "min_coverage": MIN_COVERAGE,
        "volume_dbfs": -30,
        "vad_trim": True,
        "resample": "soxr_hq (librosa.resample default)",
        "long_input": "mean of every partial of the whole utterance (partials embedded in chunks, summed)",
    },
    weights="resemblyzer/pretrained.pt",
    description="GE2E LSTM speaker encoder (resemblyzer 0.1.4; VoxCeleb 1+2, LibriSpeech)",
    license="Apache-2.0",
    reference="resemblyzer 0.1.4 VoiceEncoder.embed_utterance(preprocess_wav(path)) (librosa 0.11 soxr_hq)",
    # v2: librosa's soxr_hq resampling (was scipy resample_poly) and one mean over all partials of an utterance
    # of any length (was 10 s windows, pooled): vectors of non-16 kHz or > 10 s inputs changed.
    recipe="v2",
)


def _resemblyzer():
    """Import resemblyzer quietly (webrtcvad warns about pkg_resources on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import resemblyzer
    return resemblyzer


def probe() -> str | None:
    """The weights ship inside the package; checks files without importing torch."""
    from importlib.util import find_spec

    spec = find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        return "resemblyzer is not installed (pip install resemblyzer==0.1.4)"
    if find_spec("pkg_resources") is None:
        return "webrtcvad (used by resemblyzer) needs pkg_resources: install setuptools<81"
    path = Path(spec.origin).parent / "pretrained.pt"
    return None if path.is_file() else f"{path} is missing from the resemblyzer install"


def preprocess_wav(wav: np.ndarray) -> np.ndarray:
    """resemblyzer.audio.preprocess_wav for a 16 kHz array, byte for byte, in memory linear in the input:
    its ``struct.pack(*samples)`` built a Python int per sample (~350 MB for 10 minutes)."""
    from resemblyzer import hparams as hp

    wav = _normalize_volume(wav, hp.audio_norm_target_dBFS)
    return _trim_long_silences(wav, hp)


def _normalize_volume(wav: np.ndarray, target_dbfs: float) -> np.ndarray:
    """Raise (never lower) the volume to ``target_dbfs``, with resemblyzer's arithmetic."""
    rms = np.sqrt(np.mean((wav * INT16_MAX) ** 2))
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else wav * (10 ** (change / 20))


def _trim_long_silences(wav: np.ndarray, hp) -> np.ndarray:
    """WebRTC VAD on 30 ms windows, smoothed and dilated; silences longer than the dilation are cut."""
    from scipy.ndimage import binary_dilation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import webrtcvad
    window = (hp.vad_window_length * hp.sampling_rate) // 1000
    wav = wav[: len(wav) - (len(wav) % window)]
    pcm = np.round(wav * INT16_MAX).astype(np.int16).tobytes()  # == struct.pack("%dh", ...) on this host
    vad = webrtcvad.Vad(mode=3)
    flags = np.fromiter(
        (
            vad.is_speech(pcm[a * 2 : (a + window) * 2], sample_rate=hp.sampling_rate)
            for a in range(0, len(wav), window)
        ),
        dtype=bool,
        count=len(wav) // window,
    )
    width = hp.vad_moving_average_width
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    ret = np.cumsum(padded, dtype=float)
    ret[width:] = ret[width:] - ret[:-width]
    mask = np.round(ret[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(hp.vad_max_silence_length + 1))
    return wav[np.repeat(mask, window)]


class GE2EEncoder(Encoder):
    """Partial-window GE2E embeddings; every partial of a batch goes through the LSTM together."""

    spec = SPEC

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        import torch

        pkg = _resemblyzer()
        path = Path(weights) if weights else Path(pkg.__file__).parent / "pretrained.pt"
        if not path.is_file():
            raise FileNotFoundError(f"GE2E weights not found: {path}")
        self.model = pkg.VoiceEncoder(device=device, verbose=False, weights_fpath=path).eval()
        _check_complete(torch.load(path, map_location="cpu", weights_only=True), self.model, path)
        self.weights_source = "resemblyzer/pretrained.pt" if weights is None else str(path)
        self._torch = torch
        self._mel = DeviceMel(str(self.model.device))  # mel frames on the model's device, a chunk at a time

    def preprocess(self, sample: Audio, item_id: str) -> np.ndarray:
        """``resemblyzer.preprocess_wav`` of a decoded file: mono mix (``librosa.load``), librosa's soxr_hq
        resampling to 16 kHz, volume raised to -30 dBFS, long silences trimmed."""
        wave = prepare(sample, RATE, item_id)
        if np.linalg.norm(wave) < 1e-6 * np.sqrt(wave.size):  # RMS, without a float64 copy of a long clip
            raise ItemError(f"{item_id}: audio is silent")
        wave = preprocess_wav(wave).astype(np.float32)
        if wave.size < RATE // 10:
            raise ItemError(f"{item_id}: under 0.1 s of voiced audio after silence trimming")
        return wave

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        """``VoiceEncoder.embed_utterance`` for each input, whatever its length: every 1.6 s partial it cuts
        (rate 1.3/s, last one kept at 75 % coverage, zero-padded) through the LSTM, their mean, L2-normalised.

        Partials go through the LSTM ``MAX_PARTIALS`` at a time, their mel frames made on the device for just
        those partials, and their embeddings are summed per input: peak memory is bounded whatever the length
        of an utterance or the size of the batch, and the vector is the whole utterance's.
        """
        if not inputs:
            return np.zeros((0, SPEC.dim), np.float32)
        sums = np.zeros((len(inputs), SPEC.dim), np.float64)
        counts = np.zeros(len(inputs), np.int64)
        for owners, mels in self._partial_mels(inputs):
            np.add.at(sums, owners, self._forward(mels))
            counts += np.bincount(owners, minlength=len(inputs))
        means = sums / counts[:, None]
        return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)

    def _mel_slices(self, n_samples: int) -> list[slice]:
        """The partials' mel frame ranges, as ``embed_utterance`` cuts them."""
        return self.model.compute_partial_slices(n_samples, PARTIAL_RATE, MIN_COVERAGE)[1]

    def _partial_mels(self, inputs: list[np.ndarray]):
        """Yield (owner of each partial, (k, 160, 40) mel tensor on the device), k <= ``MAX_PARTIALS``: every
        partial of every input in order. A chunk's partials of one input are one run of frames, computed from
        the samples under it (zeros past the end, as ``embed_utterance``'s padding and librosa's centring)."""
        torch = self._torch
        jobs = [(i, s.start) for i, wave in enumerate(inputs) for s in self._mel_slices(len(wave))]
        for c in range(0, len(jobs), MAX_PARTIALS):
            chunk = jobs[c : c + MAX_PARTIALS]
            runs: list[tuple[int, list[int]]] = []  # (input, its partials' first frames) in this chunk
            for i, first in chunk:
                if runs and runs[-1][0] == i:
                    runs[-1][1].append(first)
                else:
                    runs.append((i, [first]))
            with torch.inference_mode():
                mels = self._mel.framed([span(inputs[i], f[0], f[-1] + PARTIAL_FRAMES) for i, f in runs])
                parts = [mel[a - f[0] : a - f[0] + PARTIAL_FRAMES] for mel, (_, f) in zip(mels, runs) for a in f]
                yield np.fromiter((i for i, _ in chunk), np.int64, len(chunk)), torch.stack(parts)

    def _forward(self, mels) -> np.ndarray:
        """(partials, 160, 40) mels, numpy or already on the device, through the LSTM in bounded chunks."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(mels), MAX_PARTIALS):
                chunk = mels[start : start + MAX_PARTIALS]
                if isinstance(chunk, np.ndarray):
                    chunk = torch.from_numpy(np.ascontiguousarray(chunk))
                out.append(self.model(chunk.to(self.model.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def _check_complete(checkpoint: dict, model, path: Path) -> None:
    """VoiceEncoder loads with strict=False; refuse a file that would leave layers random."""
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else {}
    missing = sorted(set(model.state_dict()) - set(state))
    if missing:
        raise ValueError(f"{path} is not a GE2E checkpoint: missing {', '.join(missing[:4])}")


@register_encoder(SPEC, probe)
def build_ge2e(weights: str | None = None, device: str = "cpu") -> GE2EEncoder:
    """Load the GE2E encoder (``weights``: an alternative resemblyzer-format .pt file)."""
    return GE2EEncoder(weights=weights, device=device)
