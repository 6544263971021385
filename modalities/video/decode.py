"""PyAV decoding: probe a video, pick K frames (exact indices or timestamps), cut long videos into windows.

Short clips are decoded sequentially and frames picked on the way (seeking costs ~4x more there); long
segments seek to each target. Every failure (audio-only, zero frames, truncated, unreadable) is an
``ItemError`` naming the item, so the embed run records it and goes on.
"""

from __future__ import annotations

import io
import itertools
import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from embedforge.modalities.base import ItemError

SEEK_AFTER = 30.0  # seconds: longer segments seek to each target frame instead of decoding everything
MAX_FRAMES = 64  # cap for target-fps sampling, so memory is bounded per clip


@dataclass(frozen=True)
class Video:
    """A video to decode: a file path or its bytes, optionally one window [start, end) in seconds."""

    source: str | bytes
    start: float | None = None
    end: float | None = None

    @property
    def windowed(self) -> bool:
        return self.start is not None or self.end is not None


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says: frame count (0 if unknown), rate, duration and size."""

    frames: int
    fps: float
    duration: float
    width: int
    height: int


@dataclass(frozen=True)
class Frames:
    """Sampled RGB frames (n, H, W, 3) uint8 with their presentation times and, when known, indices."""

    images: np.ndarray
    times: list[float]
    indices: list[int] | None = None


@contextmanager
def open_video(source: str | bytes, name: str):
    """Open a container from a path or bytes; unreadable input becomes an ItemError naming ``name``."""
    import av

    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except Exception as exc:  # av.error.* and OSError
        raise ItemError(
            f"{name}: cannot open video, truncated, corrupt or not a video ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        if not container.streams.video:
            kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
            raise ItemError(f"{name}: no video stream (streams: {', '.join(kinds)}; audio-only file?)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream
    finally:
        container.close()


def probe(source: str | bytes, name: str) -> VideoInfo:
    """Header facts without decoding; an empty video stream is refused here."""
    with open_video(source, name) as (container, stream):
        return _info(container, stream, name)


def _info(container, stream, name: str) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = int(stream.frames or 0)
    if frames == 0 and duration <= 0:
        raise ItemError(f"{name}: video stream has no frames (zero-frame file)")
    if duration <= 0 and fps > 0:
        duration = frames / fps
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    limit = _settings().max_video_pixels
    if width * height > limit:
        raise ItemError(
            f"{name}: video frames of {width} x {height} pixels are over the {limit:,}-pixel limit "
            "(EMBEDFORGE_MAX_VIDEO_PIXELS); refused before decoding"
        )
    return VideoInfo(frames, fps, duration, width, height)


def _settings():
    from embedforge.registry.settings import Settings

    return Settings()


def uniform_indices(n: int, k: int) -> list[int]:
    """The centre frame of each of ``k`` equal parts of ``n`` frames (TSN-style), exact for a known count."""
    if n <= 0 or k <= 0:
        raise ValueError(f"need n > 0 and k > 0, got n={n}, k={k}")
    return [min(n - 1, (2 * i + 1) * n // (2 * k)) for i in range(k)]


def target_times(start: float, end: float, k: int, fps: float | None = None) -> list[float]:
    """``k`` centre times of equal parts of [start, end), or every 1/fps seconds (at most MAX_FRAMES)."""
    span = max(end - start, 1e-6)
    if fps:
        n = max(1, int(span * fps))
        if n <= MAX_FRAMES:
            return [start + (i + 0.5) / fps for i in range(n)]
        k = MAX_FRAMES
    return [start + (i + 0.5) * span / k for i in range(k)]


def sample_frames(
    video: Video, name: str, *, k: int = 8, fps: float | None = None, seek_after: float = SEEK_AFTER
) -> Frames:
    """K frames of a clip or window: exact indices when the count is known, else nearest timestamps."""
    with open_video(video.source, name) as (container, stream):
        info = _info(container, stream, name)
        start = video.start or 0.0
        end = video.end if video.end is not None else info.duration
        long = end - start > seek_after
        limit = _settings().video_decode_pixels  # read once per clip, not per frame
        if not video.windowed and not fps and info.frames > 0 and not long:
            return _by_index(container, stream, uniform_indices(info.frames, k), info.frames, name, limit)
        targets = target_times(start, end, k, fps)
        return _by_time(container, stream, targets, start, end, seek=long, name=name, limit=limit)


def _decoded(container, stream, name: str):
    """Decoded frames; a decoder error mid-stream means a truncated or corrupt file."""
    try:
        yield from container.decode(stream)
    except Exception as exc:
        raise ItemError(f"{name}: truncated or corrupt video ({type(exc).__name__}: {exc})") from exc


def _by_index(container, stream, indices: list[int], total: int, name: str, limit: int | None = None) -> Frames:
    """Decode sequentially from the start, keeping the wanted frame numbers."""
    wanted, picked, times = set(indices), {}, {}
    last, seen = max(indices), 0
    for i, frame in enumerate(_decoded(container, stream, name)):
        seen = i + 1
        if i in wanted:
            picked[i], times[i] = to_rgb(frame, limit), float(frame.time or 0.0)
        if i >= last:
            break
    if seen == 0:
        raise ItemError(f"{name}: no decodable video frames (zero-frame file)")
    if last not in picked:
        raise ItemError(f"{name}: truncated video: decoded {seen} of {total} frames the header announces")
    return Frames(np.stack([picked[i] for i in indices]), [times[i] for i in indices], list(indices))


def _by_time(
    container,
    stream,
    targets: list[float],
    start: float,
    end: float,
    *,
    seek: bool,
    name: str,
    limit: int | None = None,
) -> Frames:
    """For each target time, the frame on screen at that time (seeking per target on long segments)."""
    if seek:
        chosen = [_frame_at(container, stream, t, name) for t in targets]
    else:
        if start > 0:
            _seek(container, stream, start)
        chosen = _sweep(_decoded(container, stream, name), targets, end, name)
    return Frames(np.stack([to_rgb(f, limit) for f in chosen]), [float(f.time or 0.0) for f in chosen])


def _sweep(frames, targets: list[float], end: float, name: str) -> list:
    """One pass: the last frame whose time is <= each target; the end of the stream serves the rest."""
    out, prev, j = [], None, 0
    for frame in frames:
        t = float(frame.time or 0.0)
        while j < len(targets) and t > targets[j]:
            out.append(prev if prev is not None else frame)
            j += 1
        prev = frame
        if j == len(targets) or t >= end:
            break
    if prev is None:
        raise ItemError(f"{name}: no decodable video frames in [{targets[0]:.2f}, {end:.2f}) s")
    missing = targets[j:]
    if missing and missing[0] - float(prev.time or 0.0) > 1.0:
        raise ItemError(f"{name}: truncated video: stream ends at {prev.time:.2f} s, expected frames to {end:.2f} s")
    return out + [prev] * len(missing)


def _seek(container, stream, t: float) -> None:
    container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True)


def _frame_at(container, stream, t: float, name: str):
    """Seek to the keyframe before ``t`` and decode forward to the frame shown at ``t``."""
    _seek(container, stream, t)
    return _sweep(_decoded(container, stream, name), [t], t + 1e-3, name)[0]


def to_rgb(frame, max_pixels: int | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3), turned upright by the frame's display-matrix rotation. A frame over ``max_pixels``
    (default Settings' ``video_decode_pixels``) is scaled down, aspect kept, by libswscale's area filter in its
    own pixel format, then converted as a full-size frame is (scaling inside the RGB conversion shifts levels by
    up to 2): the full-size RGB frame is never made."""
    limit = _settings().video_decode_pixels if max_pixels is None else max_pixels
    rotation = int(getattr(frame, "rotation", 0) or 0)  # read before a reformat, which does not carry it
    width, height = int(frame.width), int(frame.height)
    if width * height > limit:
        scale = math.sqrt(limit / (width * height))
        size = {"width": max(2, int(width * scale)), "height": max(2, int(height * scale))}
        frame = frame.reformat(**size, interpolation="AREA")
    return rotate_upright(frame.to_ndarray(format="rgb24"), rotation)


def rotate_upright(img: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counterclockwise, a multiple of 90) to an (H, W, C) image."""
    quarter = round(rotation / 90.0) % 4
    return np.ascontiguousarray(np.rot90(img, k=quarter)) if quarter else img


def windows(duration: float, window: float = 10.0) -> list[tuple[float, float]]:
    """Contiguous [start, end) windows covering [0, duration); a short tail joins the window before it."""
    if duration <= 0 or window <= 0:
        raise ValueError(f"need duration > 0 and window > 0, got {duration}, {window}")
    edges = [float(e) for e in np.arange(0.0, duration, window)] + [float(duration)]
    if len(edges) > 2 and edges[-1] - edges[-2] < window / 2:
        del edges[-2]
    return [(float(a), float(b)) for a, b in itertools.pairwise(edges)]


def shot_boundaries(source: str | bytes, name: str, *, threshold: float = 0.12, min_shot: float = 1.0) -> list[float]:
    """Hard cuts: times where the mean absolute difference of 32x32 grey thumbnails jumps above ``threshold``."""
    cuts, prev, last = [], None, 0.0
    with open_video(source, name) as (container, stream):
        for frame in _decoded(container, stream, name):
            thumb = frame.reformat(width=32, height=32, format="gray").to_ndarray().astype(np.float32) / 255.0
            t = float(frame.time or 0.0)
            if prev is not None and np.abs(thumb - prev).mean() > threshold and t - last >= min_shot:
                cuts.append(t)
                last = t
            prev = thumb
    return cuts


def segments(duration: float, cuts: list[float]) -> list[tuple[float, float]]:
    """Shots as contiguous [start, end) segments from cut times."""
    edges = [0.0] + [c for c in cuts if 0.0 < c < duration] + [duration]
    return [(float(a), float(b)) for a, b in itertools.pairwise(edges)]
