"""Mel spectrograms on the encoder's device, a batch of waves at once: the CPU and GPU paths share this code.

Matches resemblyzer's ``wav_to_mel_spectrogram`` (librosa: Hann window, centred frames with zero padding,
power 2, Slaney mel filters, no log): the filterbank comes from torchaudio with the same Slaney scale and
norm, the STFT from torch. A centred frame reads only its own 400 samples (zeros past either end), so any run
of frames can be computed from the samples under it alone (``span``): a long utterance's mel is made a run of
frames at a time, each frame exactly the one the whole-utterance spectrogram holds. Spans of one batch are
right-padded with zeros to a common length; uncentred frames inside each span never read that padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40


def frames(n_samples: int) -> int:
    """Frames librosa makes of ``n_samples`` with centred windows."""
    return 1 + n_samples // HOP


def span(wave: np.ndarray, first: int, stop: int) -> np.ndarray:
    """The samples centred frames ``first .. stop-1`` of ``wave`` read, zeros outside the wave (librosa's
    ``center=True, pad_mode="constant"``); its uncentred STFT has exactly those ``stop - first`` frames."""
    start, end = first * HOP - N_FFT // 2, (stop - 1) * HOP + N_FFT // 2
    out = np.zeros(end - start, np.float32)
    lo, hi = max(start, 0), min(end, len(wave))
    if hi > lo:
        out[lo - start : hi - start] = wave[lo:hi]
    return out


class DeviceMel:
    """Spans (or whole waves) -> one (frames, 40) mel power tensor each, computed on ``device``."""

    def __init__(self, device: str = "cpu") -> None:
        import torch
        import torchaudio.functional as AF

        self.torch = torch
        self.device = torch.device(device)
        fbank = AF.melscale_fbanks(
            N_FFT // 2 + 1, 0.0, RATE / 2, N_MELS, RATE, norm="slaney", mel_scale="slaney"
        )  # (freqs, mels)
        self.fbank = fbank.to(self.device, torch.float32)
        self.window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32, device=self.device)

    frames = staticmethod(frames)

    def __call__(self, waves: Sequence[np.ndarray]) -> list:
        """Whole waves' centred mel spectrograms, as ``wav_to_mel_spectrogram`` makes them."""
        return self.framed([span(w, 0, frames(len(w))) for w in waves])

    def framed(self, spans: Sequence[np.ndarray]) -> list:
        """Uncentred frames of each span (``span``'s output): one (frames, 40) float32 tensor on the device."""
        torch = self.torch
        longest = max(len(s) for s in spans)
        batch = np.zeros((len(spans), longest), np.float32)
        for row, s in zip(batch, spans):
            row[: len(s)] = s
        x = torch.from_numpy(batch).to(self.device, non_blocking=True)
        spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=False, return_complex=True)  # (b, freqs, frames)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(power.transpose(1, 2), self.fbank)  # (batch, frames, mels)
        return [mel[i, : 1 + (len(s) - N_FFT) // HOP] for i, s in enumerate(spans)]
