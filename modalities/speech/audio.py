"""Audio files to clean float waveforms: soundfile decoding, mono mixing, resampling, checks."""

from __future__ import annotations

import struct
from math import gcd
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Audio, Item, ItemError


def read_audio(path: str | Path, item_id: str | None = None) -> Audio:
    """Decode a WAV/FLAC/NIST file into channels x samples float32, or raise ItemError naming it."""
    import soundfile as sf

    path = Path(path)
    name = _name(path, item_id)
    if not path.is_file():
        raise ItemError(f"{name}: no such audio file")
    if path.stat().st_size == 0:
        raise ItemError(f"{name}: empty file (0 bytes)")
    _check_riff_complete(path, name)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports corrupt headers as several exception types
        raise ItemError(f"{name}: cannot decode audio ({exc})") from exc
    audio = Audio(waveform=np.ascontiguousarray(data.T), sample_rate=int(rate))
    check_audio(audio, name)
    return audio


def read_item(item: Item) -> Audio:
    """Read a dataset item's audio file; every error names the item."""
    try:
        return read_audio(item.uri, item.id)
    except ItemError:
        raise
    except OSError as exc:
        raise ItemError(f"{item.id} ({item.uri}): {exc}") from exc


def check_audio(audio: Audio, name: str) -> None:
    """Reject zero-length and non-finite audio with a message naming the item."""
    wave = np.asarray(audio.waveform)
    if wave.size == 0 or wave.shape[-1] == 0:
        raise ItemError(f"{name}: zero-length audio")
    if audio.sample_rate <= 0:
        raise ItemError(f"{name}: invalid sample rate {audio.sample_rate}")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise ItemError(f"{name}: {int(bad.sum())} NaN/inf samples")


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Average channels (channels x samples, or 1-D) into one float32 channel."""
    wave = np.asarray(wave, dtype=np.float32)
    return wave if wave.ndim == 1 else wave.mean(axis=0, dtype=np.float32)


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis (exact ratio, no FFT wrap-around)."""
    if source_rate == target_rate:
        return np.asarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(source_rate), int(target_rate))
    out = resample_poly(wave, int(target_rate) // g, int(source_rate) // g, axis=-1)
    return out.astype(np.float32)


def prepare(audio: Audio, target_rate: int, item_id: str) -> np.ndarray:
    """Check, mix to mono and resample: the common first step of every speech encoder."""
    check_audio(audio, item_id)
    return resample(to_mono(audio.waveform), audio.sample_rate, target_rate)


def _name(path: Path, item_id: str | None) -> str:
    return f"{item_id} ({path})" if item_id and item_id != str(path) else str(path)


def _check_riff_complete(path: Path, name: str) -> None:
    """libsndfile silently reads what is left of a cut WAV; compare the data chunk to the file size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return
        fmt = "<I" if head[:4] == b"RIFF" else ">I"
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise ItemError(f"{name}: truncated WAV (no data chunk in {size} bytes)")
            cid, n = chunk[:4], struct.unpack(fmt, chunk[4:])[0]
            if cid == b"data":
                left = size - f.tell()
                if n not in (0, 0xFFFFFFFF) and left < n:
                    raise ItemError(f"{name}: truncated WAV (header declares {n} data bytes, file holds {left})")
                return
            f.seek(n + (n & 1), 1)
            if f.tell() > size:
                raise ItemError(f"{name}: truncated WAV (chunk {cid!r} runs past the end of the file)")
