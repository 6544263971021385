"""``speech/ge2e``: the GE2E speaker encoder shipped inside resemblyzer (256-d, 16 kHz)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Audio, Encoder, EncoderSpec, ItemError
from embedforge.modalities.speech.audio import LONG_INPUT, long_windows, pool_windows, prepare
from embedforge.registry.encoders import register_encoder

RATE = 16000
PARTIAL_RATE = 1.3  # partial windows per second, as in VoiceEncoder.embed_utterance
MIN_COVERAGE = 0.75
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
        "long_input": LONG_INPUT,
    },
    weights="resemblyzer/pretrained.pt",
    description="GE2E LSTM speaker encoder (resemblyzer 0.1.4; VoxCeleb 1+2, LibriSpeech)",
    license="Apache-2.0",
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
        from embedforge.modalities.speech.devicemel import DeviceMel

        self._mel = DeviceMel(str(self.model.device))  # mel frames on the model's device, a group at a time

    def preprocess(self, sample: Audio, item_id: str) -> np.ndarray:
        """16 kHz mono, volume raised to -30 dBFS, long silences trimmed (resemblyzer's recipe)."""
        wave = prepare(sample, RATE, item_id)
        if np.linalg.norm(wave) < 1e-6 * np.sqrt(wave.size):  # RMS, without a float64 copy of a long clip
            raise ItemError(f"{item_id}: audio is silent")
        wave = preprocess_wav(wave).astype(np.float32)
        if wave.size < RATE // 10:
            raise ItemError(f"{item_id}: under 0.1 s of voiced audio after silence trimming")
        return wave

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Per window (a whole utterance up to 10 s; longer ones in overlapping 10 s windows): mel partials
        through the LSTM, averaged, L2-normalised; an utterance's windows pooled the same way.

        Windows go through the LSTM in groups of at most ``MAX_PARTIALS`` partials, so peak memory is bounded
        whatever the length of an utterance or the size of the batch.
        """
        if not inputs:
            return np.zeros((0, SPEC.dim), np.float32)
        spans = [(i, a, b) for i, wave in enumerate(inputs) for a, b in long_windows(len(wave), RATE)]
        windows = np.zeros((len(spans), SPEC.dim), np.float64)
        for group in self._groups(spans):
            parts = self._device_partials([inputs[i][a:b] for _, (i, a, b) in group])
            owner = np.repeat([k for k, _ in group], [len(p) for p in parts])
            np.add.at(windows, owner, self._forward(self._torch.cat(parts)))
        windows /= np.linalg.norm(windows, axis=1, keepdims=True)  # each window: its partials' mean direction
        return pool_windows(windows, np.asarray([i for i, _, _ in spans]), len(inputs))

    def _groups(self, spans: list[tuple[int, int, int]]):
        """Consecutive windows whose partials fit one LSTM pass."""
        group: list[tuple[int, tuple[int, int, int]]] = []
        size = 0
        for k, (i, a, b) in enumerate(spans):
            n = len(self.model.compute_partial_slices(b - a, PARTIAL_RATE, MIN_COVERAGE)[1])
            if group and size + n > MAX_PARTIALS:
                yield group
                group, size = [], 0
            group.append((k, (i, a, b)))
            size += n
        if group:
            yield group

    def _partials(self, wave: np.ndarray) -> np.ndarray:
        """Fixed 160-frame mel windows exactly as VoiceEncoder.embed_utterance cuts them."""
        from resemblyzer.audio import wav_to_mel_spectrogram

        wav_slices, mel_slices = self.model.compute_partial_slices(len(wave), PARTIAL_RATE, MIN_COVERAGE)
        need = wav_slices[-1].stop
        if need >= len(wave):
            wave = np.pad(wave, (0, need - len(wave)))
        mel = wav_to_mel_spectrogram(wave)
        return np.stack([mel[s] for s in mel_slices])

    def _device_partials(self, waves: list[np.ndarray]) -> list:
        """The same partial windows as ``_partials``, their mels computed on the device for a whole group."""
        cuts = [self.model.compute_partial_slices(len(w), PARTIAL_RATE, MIN_COVERAGE) for w in waves]
        padded = [np.pad(w, (0, max(0, wav[-1].stop - len(w)))) for w, (wav, _) in zip(waves, cuts)]
        with self._torch.inference_mode():
            mels = self._mel(padded)
            return [self._torch.stack([mel[s] for s in slices]) for mel, (_, slices) in zip(mels, cuts)]

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
