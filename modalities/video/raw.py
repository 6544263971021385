"""Video from outside a dataset: a query file for ``search --query``, or base64 bytes sent to a served model."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from embedforge.modalities.base import ItemError
from embedforge.modalities.video.decode import Video, probe
from embedforge.registry.settings import Settings

_SETTINGS = Settings()  # EMBEDFORGE_VIDEO_MAX_BYTES / EMBEDFORGE_VIDEO_MAX_SECONDS
MAX_BYTES = _SETTINGS.video_max_bytes
MAX_SECONDS = _SETTINGS.video_max_seconds


def read_video_file(path: str) -> Video:
    """A query file: checked now, decoded by the encoder."""
    if not Path(path).is_file():
        raise ItemError(f"{path}: no such video file")
    probe(path, path)
    return Video(str(path))


def decode_request(data: bytes | str, name: str) -> Video:
    """Request bytes (raw container bytes or their base64 text) -> a checked in-memory video within the limits."""
    raw = _container_bytes(data, name)
    if len(raw) > MAX_BYTES:
        raise ItemError(f"{name}: video of {len(raw)} bytes is over the {MAX_BYTES}-byte limit")
    info = probe(raw, name)
    if info.duration > MAX_SECONDS:
        raise ItemError(f"{name}: video of {info.duration:.1f} s is over the {MAX_SECONDS:.0f}-second limit")
    return Video(raw)


def _container_bytes(data: bytes | str, name: str) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_BYTES * 4 // 3 + 4:
        raise ItemError(f"{name}: request of {len(data)} bytes is over the {MAX_BYTES}-byte video limit")
    head = data[:64].lstrip()
    if head and all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n" for c in head):
        try:
            return base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ItemError(f"{name}: not valid base64 video ({exc})") from exc
    return bytes(data)
