"""Mel spectrograms on the encoder's device, a batch of waves at once: the CPU and GPU paths share this code.

Matches resemblyzer's ``wav_to_mel_spectrogram`` (librosa: Hann window, centred frames with zero padding,
power 2, Slaney mel filters, no log): the filterbank comes from torchaudio with the same Slaney scale and
norm, the STFT from torch. Waves of one batch are right-padded with zeros to a common length; with zero
centre padding the frames inside each wave are exactly those of the wave alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40


class DeviceMel:
    """A batch of 1-D float waves -> one (frames, 40) mel tensor per wave, computed on ``device``."""

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

    @staticmethod
    def frames(n_samples: int) -> int:
        """Frames librosa makes of ``n_samples`` with centred windows."""
        return 1 + n_samples // HOP

    def __call__(self, waves: Sequence[np.ndarray]) -> list:
        """Mel power spectrograms, one (frames, 40) float32 tensor on the device per wave."""
        torch = self.torch
        longest = max(len(w) for w in waves)
        batch = np.zeros((len(waves), longest), np.float32)
        for row, w in zip(batch, waves):
            row[: len(w)] = w
        x = torch.from_numpy(batch).to(self.device, non_blocking=True)
        spec = torch.stft(
            x, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="constant", return_complex=True
        )  # (batch, freqs, frames)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(power.transpose(1, 2), self.fbank)  # (batch, frames, mels)
        return [mel[i, : self.frames(len(w))] for i, w in enumerate(waves)]
