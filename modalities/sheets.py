"""Contact sheets (``search --sheet``): thumbnails of search hits in a grid, caption lines under each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LINE = 13  # pixels a caption line takes (PIL's default font)


def distance_line(hit: dict[str, Any]) -> str:
    """The hit's cosine distance as the sheet shows it under the picture."""
    return f"d = {float(hit.get('_distance', float('nan'))):.3f}"


def grid(cells: list[tuple[Any, list[str]]], path: str | Path, width: int, columns: int = 5) -> Path:
    """Write (PIL image, caption lines) cells, best first, in rows of ``columns``; each cell ``width`` wide."""
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


def picture_sheet(hits: list[dict[str, Any]], path: str | Path, picture, width: int = 160) -> Path:
    """A grid of ``picture(hit)`` for each hit, best first; a hit that cannot be drawn is a grey box."""
    from PIL import Image

    from embedforge.modalities.base import ItemError

    cells = []
    for rank, hit in enumerate(hits, 1):
        try:
            img = picture(hit)
        except (ItemError, OSError, ValueError):  # a moved or unreadable item stays a grey box with its caption
            img = Image.new("RGB", (width, 72), (90, 90, 90))
        label = (hit.get("labels") or {}).get("label") or (hit.get("labels") or {}).get("speaker") or ""
        cells.append((img, [f"{rank}. {label}".strip(), str(hit.get("id", ""))[-26:], distance_line(hit)]))
    return grid(cells, path, width)
