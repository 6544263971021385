"""A contact sheet of search hits: the middle frame of each hit's clip or window, captioned, in one image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedforge.modalities.base import ItemError
from embedforge.modalities.video.decode import Video, sample_frames

THUMB = 160  # thumbnail width in pixels


def middle_frame(hit: dict[str, Any]):
    """The frame at the middle of the hit's window (or clip) as a PIL image."""
    from PIL import Image

    labels = hit.get("labels") or {}
    video = Video(hit["uri"], labels.get("start"), labels.get("end"))
    return Image.fromarray(sample_frames(video, hit["id"], k=1).images[0])


def caption(prefix: str, hit: dict[str, Any]) -> str:
    labels = hit.get("labels") or {}
    where = f" {labels['start']:.1f}-{labels['end']:.1f}s" if "start" in labels else ""
    return f"{prefix} {labels.get('label', '')}{where}".strip()


def contact_sheet(hits: list[dict[str, Any]], path: str | Path, columns: int = 5) -> Path:
    """Write a grid of the hits' middle frames, rank, label and distance under each; unreadable hits are grey."""
    from PIL import Image

    from embedforge.modalities.sheets import grid, numbered, under

    cells = []
    for prefix, hit in numbered(hits):
        try:
            img = middle_frame(hit)
            img = img.resize((THUMB, max(1, round(img.height * THUMB / img.width))))
        except ItemError:
            img = Image.new("RGB", (THUMB, THUMB * 9 // 16), (90, 90, 90))
        cells.append((img, [caption(prefix, hit), under(prefix, hit)]))
    return grid(cells, path, THUMB, columns)
