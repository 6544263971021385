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
