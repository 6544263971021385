"""``search --sheet`` for pathology: the hit tiles read back from their slides, one size, rank and distance under each.

A tile hit carries its slide file (the item's uri), its level-0 position and the cutting geometry in its labels,
so the picture is the very tile that was embedded. A hit that cannot be read again (a slide moved or deleted) is a
grey square with its caption, not a failure of the whole sheet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import ItemError

THUMB = 160  # pixels a side: every tile drawn at one size


def hit_tile(hit: dict[str, Any]):
    """The hit's tile as a THUMB x THUMB PIL image."""
    from PIL import Image

    from embedforge.modalities.pathology.slides import Geometry, open_slide, read_tile

    labels = hit.get("labels") or {}
    try:
        geom = Geometry(**{k: labels[k] for k in ("size", "extent", "level", "read", "mpp")})
        path = str(hit["uri"]).rpartition("#")[0]
    except KeyError as exc:
        raise ItemError(f"{hit.get('id')}: not a tile hit (no {exc} label)") from None
    slide = open_slide(path, str(labels.get("slide", path)))
    try:
        image = read_tile(slide, int(labels["x"]), int(labels["y"]), geom)
    finally:
        slide.close()
    return Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((THUMB, THUMB))


def tile_sheet(hits: list[dict[str, Any]], path: str | Path, columns: int = 5) -> Path:
    """A grid of the hit tiles, best first, each captioned with its rank, slide and cosine distance."""
    from PIL import Image

    from embedforge.modalities.sheets import grid, numbered, under

    cells = []
    for prefix, hit in numbered(hits):
        try:
            img = query_tile(hit) if hit.get("query") else hit_tile(hit)
        except (ItemError, OSError):
            img = Image.new("RGB", (THUMB, THUMB), (90, 90, 90))
        slide = (hit.get("labels") or {}).get("slide", hit.get("id", ""))
        cells.append((img, [f"{prefix} {str(slide)[:14]}", under(prefix, hit)]))
    return grid(cells, path, THUMB, columns)


def query_tile(hit: dict[str, Any]):
    """The query tile file (PNG/JPEG, read as ``search --query`` reads it) at the sheet's size."""
    from PIL import Image

    from embedforge.modalities.pathology.slides import read_image_tile

    return Image.fromarray(read_image_tile(str(hit["uri"])).image).resize((THUMB, THUMB))
