"""Contact sheets (``search --sheet``): thumbnails of search hits in a grid, caption lines under each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LINE = 13  # pixels a caption line takes (PIL's default font)


def distance_line(hit: dict[str, Any]) -> str:
    """The hit's cosine distance as the sheet shows it under the picture."""
    return f"d = {float(hit.get('_distance', float('nan'))):.3f}"


def numbered(hits: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(caption prefix, hit) in order: ``QUERY`` for the query a sheet shows first (``hit["query"]``), then
    ``1.``, ``2.``, ... for the hits."""
    out, rank = [], 0
    for hit in hits:
        if hit.get("query"):
            out.append(("QUERY", hit))
        else:
            rank += 1
            out.append((f"{rank}.", hit))
    return out


def under(prefix: str, hit: dict[str, Any]) -> str:
    """The last caption line: the distance, or what the query is."""
    return "the query" if prefix == "QUERY" else distance_line(hit)


def grid(cells: list[tuple[Any, list[str]]], path: str | Path, width: int, columns: int = 5) -> Path:
    """Write (PIL image, caption lines) cells, best first, in rows of ``columns``; each cell ``width`` wide.

    A cell whose first caption line starts with ``QUERY`` is framed in red: the query, shown before its hits.
    """
    from PIL import Image, ImageDraw

    if not cells:
        raise ValueError("no hits to draw")
    rows, cols = -(-len(cells) // columns), min(columns, len(cells))
    picture_h = max(img.height for img, _ in cells)
    cell_h = picture_h + 4 + LINE * max(len(lines) for _, lines in cells)
    sheet = Image.new("RGB", (cols * (width + 4), rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (img, lines) in enumerate(cells):
        x, y = (i % cols) * (width + 4), (i // cols) * cell_h
        sheet.paste(img, (x, y))
        if lines and lines[0].startswith("QUERY"):
            draw.rectangle([x, y, x + img.width - 1, y + img.height - 1], outline=(210, 30, 30), width=3)
        for n, text in enumerate(lines):
            draw.text((x + 2, y + img.height + 2 + LINE * n), text[:28], fill=(0, 0, 0) if n == 0 else (70, 70, 70))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def waveform_picture(wave, width: int = 160, height: int = 72):
    """A mono signal as a PIL image: its min/max envelope per pixel column, the way audio editors draw it."""
    import numpy as np
    from PIL import Image, ImageDraw

    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise ValueError("empty signal")
    cols = np.array_split(wave, min(width, wave.size))
    peak = max(float(np.abs(wave).max()), 1e-6)
    img = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    mid = height / 2
    for x, col in enumerate(cols):
        lo, hi = float(col.min()) / peak, float(col.max()) / peak
        draw.line([(x, mid - hi * (mid - 2)), (x, mid - lo * (mid - 2))], fill=(40, 90, 160))
    return img


def series_picture(values, width: int = 160, height: int = 72):
    """A series (time, or channels x time) as a PIL image: one line per channel (the first four), each channel
    scaled to the picture's height, its min/max per pixel column where it is longer than the picture is wide."""
    import numpy as np
    from PIL import Image, ImageDraw

    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
    img = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    colours = [(40, 90, 160), (200, 90, 40), (60, 150, 70), (150, 60, 150)]
    drawn = False
    for channel, colour in zip(x[:4], colours, strict=False):
        finite = channel[np.isfinite(channel)]
        if finite.size < 2:
            continue
        lo, hi = float(finite.min()), float(finite.max())
        scale = (height - 6) / (hi - lo) if hi > lo else 0.0
        cols = np.array_split(finite, min(width, finite.size))
        step = (width - 1) / max(len(cols) - 1, 1)
        points = []
        for n, col in enumerate(cols):
            points += [(n * step, height - 3 - (float(v) - lo) * scale) for v in (col.min(), col.max())]
        draw.line(points, fill=colour, width=1)
        drawn = True
    if not drawn:
        raise ValueError("no finite values to draw")
    return img


def picture_sheet(hits: list[dict[str, Any]], path: str | Path, picture, width: int = 160) -> Path:
    """A grid of ``picture(hit)`` for each hit, best first; a hit that cannot be drawn is a grey box."""
    from PIL import Image

    from embedforge.modalities.base import ItemError

    cells = []
    for prefix, hit in numbered(hits):
        try:
            img = picture(hit)
        except (ItemError, OSError, ValueError):  # a moved or unreadable item stays a grey box with its caption
            img = Image.new("RGB", (width, 72), (90, 90, 90))
        label = (hit.get("labels") or {}).get("label") or (hit.get("labels") or {}).get("speaker") or ""
        cells.append((img, [f"{prefix} {label}".strip(), str(hit.get("id", ""))[-26:], under(prefix, hit)]))
    return grid(cells, path, width)
