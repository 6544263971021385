"""Audio files to clean float waveforms: soundfile decoding, mono mixing, resampling, checks."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from embedforge.modalities.base import Audio, Item, ItemError
from embedforge.modalities.stamps import file_sha256_memo

MAX_AMPLITUDE = 1e6  # float audio far past full scale is a broken file, not a loud voice
# Long inputs are embedded window by window and pooled: peak memory does not grow with the clip's length.
LONG_WINDOW_S, LONG_HOP_S = 10.0, 8.0
LONG_INPUT = {"window_s": LONG_WINDOW_S, "hop_s": LONG_HOP_S, "pool": "mean of window vectors"}


def read_audio(path: str | Path, item_id: str | None = None) -> Audio:
    """Decode a WAV/FLAC/NIST file into channels x samples float32, or raise ItemError naming it."""
    path = Path(path)
    name = _name(path, item_id)
    if path.is_dir():
        raise ItemError(f"{name}: is a directory, not an audio file")
    if not path.exists():
        raise ItemError(f"{name}: no such audio file")
    if not path.is_file():
        raise ItemError(f"{name}: not a regular file (a FIFO or a device?); only regular files are read")
    if path.stat().st_size == 0:
        raise ItemError(f"{name}: empty file (0 bytes)")
    with open(path, "rb") as f:
        return _decode(f, path.stat().st_size, name)


def decode_audio(data: bytes, name: str, max_seconds: float | None = None) -> Audio:
    """A served request's audio bytes to a checked waveform. Duration (``max_seconds``, default Settings'
    ``max_media_seconds``), channels and sample rate are checked from the header before anything is decoded,
    and channels are mixed to mono block by block as they are decoded: a request holds one float32 channel,
    never eight (every speech encoder mixes to mono first; mixing before resampling differs by float rounding)."""
    if max_seconds is None:
        from embedforge.registry.settings import Settings

        max_seconds = Settings().max_media_seconds
    if not data:
        raise ItemError(f"{name}: empty audio (0 bytes)")
    return _decode(io.BytesIO(data), len(data), name, max_seconds, mono=True)


MONO_BLOCK = 1 << 16  # frames decoded at a time when mixing to mono while decoding


def _decode(f: BinaryIO, size: int, name: str, max_seconds: float | None = None, mono: bool = False) -> Audio:
    import soundfile as sf

    _check_riff_complete(f, size, name)
    try:
        f.seek(0)
        info = sf.info(f)
        _check_header(info.channels, info.samplerate, info.frames, name, max_seconds)
        f.seek(0)
        if mono and info.channels > 1:
            data, rate = _read_mono(f), info.samplerate
        else:
            data, rate = sf.read(f, dtype="float32", always_2d=True)
            data = data.T
    except ItemError:
        raise
    except Exception as exc:  # libsndfile reports corrupt headers as several exception types
        raise ItemError(f"{name}: cannot decode audio ({_reason(exc)})") from exc
    audio = Audio(waveform=np.ascontiguousarray(data), sample_rate=int(rate))
    check_audio(audio, name)
    return audio


def _check_header(channels: int, rate: int, frames: int, name: str, max_seconds: float | None) -> None:
    """Refuse from the header what would cost too much to decode: channels, sample rate, duration."""
    from embedforge.registry.settings import Settings

    s = Settings()
    if channels > s.max_audio_channels:
        raise ItemError(f"{name}: {channels} audio channels, the limit is {s.max_audio_channels} (refused unread)")
    if rate > s.max_audio_rate:
        raise ItemError(f"{name}: sample rate {rate} Hz, the limit is {s.max_audio_rate} Hz (refused unread)")
    if max_seconds is not None and rate > 0 and frames / rate > max_seconds:
        raise ItemError(f"{name}: {frames / rate:.1f} s of audio, the limit is {max_seconds:g} s")


def _read_mono(f: BinaryIO) -> np.ndarray:
    """(1, frames) float32: each block's channels averaged as ``to_mono`` averages the whole file."""
    import soundfile as sf

    with sf.SoundFile(f) as snd:
        out, pos = np.empty(snd.frames, np.float32), 0
        for block in snd.blocks(blocksize=MONO_BLOCK, dtype="float32", always_2d=True):
            mixed = to_mono(np.ascontiguousarray(block.T))
            out[pos : pos + len(mixed)] = mixed
            pos += len(mixed)
    return out[None, :pos]


def _reason(exc: Exception) -> str:
    """libsndfile's own words without the file object's repr."""
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if text.startswith("Error opening") else text


def read_item(item: Item) -> Audio:
    """Read a dataset item's audio file; every error names the item."""
    try:
        return read_audio(item.uri, item.id)
    except ItemError:
        raise
    except OSError as exc:
        raise ItemError(f"{item.id} ({item.uri}): {exc}") from exc


def audio_file_hash(path: Path) -> str:
    """The file's sha256; for what cannot be read (a directory named ``x.wav``, no permission) a hash of why,
    so the scan keeps it as an item that fails at load, naming the file, instead of aborting the run."""
    try:
        return file_sha256_memo(path)
    except OSError as exc:  # NotARegularFile too: a FIFO named x.wav is an item that fails, never a hang
        return hashlib.sha256(f"unreadable:{path}:{type(exc).__name__}".encode()).hexdigest()


def check_audio(audio: Audio, name: str) -> None:
    """Reject zero-length, non-finite and out-of-range audio with a message naming the item and the cause."""
    if not isinstance(audio, Audio):
        raise ItemError(f"{name}: expected Audio (waveform and sample rate), got {type(audio).__name__}")
    wave = np.asarray(audio.waveform)
    if wave.size == 0 or wave.shape[-1] == 0:
        raise ItemError(f"{name}: zero-length audio")
    if audio.sample_rate <= 0:
        raise ItemError(f"{name}: invalid sample rate {audio.sample_rate}")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise ItemError(f"{name}: {int(bad.sum())} NaN/inf samples (non-finite)")
    peak = float(np.max(np.abs(wave)))
    if peak > MAX_AMPLITUDE:
        raise ItemError(
            f"{name}: out-of-range samples (peak {peak:.3g}; audio is expected within [-1, 1], "
            f"refused above {MAX_AMPLITUDE:g})"
        )


def long_windows(n: int, rate: int) -> list[tuple[int, int]]:
    """Sample spans an encoder embeds separately: the whole input up to one window, else full windows every
    hop with the last one ending at the end, so a long input costs bounded memory per window."""
    size, hop = round(LONG_WINDOW_S * rate), round(LONG_HOP_S * rate)
    if n <= size:
        return [(0, n)]
    return [(a, a + size) for a in [*range(0, n - size, hop), n - size]]


def pool_windows(vectors: np.ndarray, owners: np.ndarray, n: int, normalise: bool = True) -> np.ndarray:
    """(windows, d) vectors -> (n, d): each input's windows averaged, then L2-normalised (``normalise``);
    one window is returned as it is (normalised)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    sums = np.zeros((n, vectors.shape[1]), np.float64)
    np.add.at(sums, owners, vectors)
    out = sums / np.bincount(owners, minlength=n)[:, None]
    if normalise:
        out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Average channels (channels x samples, or 1-D) into one float32 channel."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2 and wave.shape[0] == 1:
        return wave[0]  # a view: a long mono clip is not copied
    return wave if wave.ndim == 1 else wave.mean(axis=0, dtype=np.float32)


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """``librosa.resample`` with its default ``res_type="soxr_hq"`` (what resemblyzer's ``preprocess_wav`` calls),
    without importing librosa: soxr's HQ one-shot resampler per channel along the last axis, cut or zero-padded
    to ``ceil(n * target / source)`` samples, float32."""
    wave = np.asarray(wave, dtype=np.float32)
    if source_rate == target_rate:
        return wave
    import soxr

    size = int(np.ceil(wave.shape[-1] * (float(target_rate) / source_rate)))
    rows = wave.reshape(-1, wave.shape[-1])
    out = np.zeros((len(rows), size), np.float32)
    for row, src in zip(out, rows):
        y = soxr.resample(src, source_rate, target_rate, quality="soxr_hq")
        row[: min(size, len(y))] = y[:size]
    return out.reshape(*wave.shape[:-1], size)


def prepare(audio: Audio, target_rate: int, item_id: str) -> np.ndarray:
    """Check, mix to mono, then resample (librosa's soxr_hq): ``librosa.load(path, sr=None)`` followed by
    ``librosa.resample``, as resemblyzer's ``preprocess_wav`` reads a file."""
    check_audio(audio, item_id)
    return resample(to_mono(audio.waveform), audio.sample_rate, target_rate)


def _name(path: Path, item_id: str | None) -> str:
    return f"{item_id} ({path})" if item_id and item_id != str(path) else str(path)


def _check_riff_complete(f: BinaryIO, size: int, name: str) -> None:
    """libsndfile silently reads what is left of a cut WAV; compare the data chunk to the file size."""
    f.seek(0)
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
