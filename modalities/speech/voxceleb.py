"""``voxceleb:DIR``: VoxCeleb1 ``wav/idXXXXX/<video>/<n>.wav`` with HeightCeleb height/sex labels."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

from embedforge.modalities.base import Audio, Dataset, Item
from embedforge.modalities.speech.audio import audio_file_hash, read_item
from embedforge.registry.datasets import DATASETS

HEIGHTCELEB_URL = "https://raw.githubusercontent.com/stachu86/HeightCeleb/main/height_celeb.csv"
SPEAKER_DIR = re.compile(r"^id\d+$")
AUDIO_SUFFIXES = {".wav", ".flac"}
log = logging.getLogger(__name__)


def read_heightceleb(source: str | Path = HEIGHTCELEB_URL) -> dict[str, dict[str, Any]]:
    """Speaker id -> {height (cm), sex ("m"/"f"), split ("train"/"test")} from a path or http(s) URL."""
    try:
        text = _fetch_text(str(source))
    except Exception as exc:  # a path or URL may fail many ways: one ValueError naming the source
        raise ValueError(
            f"cannot read the HeightCeleb table from {source} ({exc}); "
            "pass heightceleb=<local csv path> or heightceleb='none'"
        ) from exc
    return parse_heightceleb(text, source)


def parse_heightceleb(text: str, source: str | Path) -> dict[str, dict[str, Any]]:
    """The table's text -> speaker id -> labels; a ValueError when it is not a HeightCeleb table."""
    rows = list(csv.DictReader(io.StringIO(text)))
    need = {"VoxCeleb1 ID", "height", "sex", "split"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{source}: not a HeightCeleb table (need columns {sorted(need)})")
    return {r["VoxCeleb1 ID"].strip(): _row_labels(r) for r in rows if r["VoxCeleb1 ID"].strip()}


def heightceleb_cache() -> Path:
    """Where the public table is kept after its first fetch: under the data directory."""
    from embedforge.registry.settings import Settings

    return Settings().home / "cache" / "height_celeb.csv"


def default_heightceleb() -> dict[str, dict[str, Any]]:
    """The public table from the cache, else fetched (and cached); unreachable: no labels and a warning."""
    cache = heightceleb_cache()
    if cache.is_file():
        try:
            return read_heightceleb(cache)
        except ValueError:
            log.warning("ignoring a corrupt HeightCeleb cache at %s", cache)
    try:
        text = _fetch_text(HEIGHTCELEB_URL)
        table = parse_heightceleb(text, HEIGHTCELEB_URL)
    except Exception as exc:
        message = (
            f"HeightCeleb labels unavailable ({type(exc).__name__}: {exc}); embedding without height/sex labels. "
            "Pass heightceleb=<local csv path> for labels, or heightceleb=none to silence this"
        )
        log.warning(message)
        warnings.warn(message, stacklevel=3)
        return {}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(cache)
    return table


def _row_labels(row: dict[str, str]) -> dict[str, Any]:
    height = _float(row["height"])
    sex = row["sex"].strip().lower()[:1]
    split = row["split"].strip().lower()
    labels: dict[str, Any] = {}
    if not math.isnan(height):
        labels["height"] = height
    if sex in ("m", "f"):
        labels["sex"] = sex
    return {"labels": labels, "split": split or None}


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _fetch_text(source: str) -> str:
    if source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(source, timeout=30.0, follow_redirects=True)
        response.raise_for_status()
        return response.text
    return Path(source).expanduser().read_text(encoding="utf-8-sig")


class VoxCelebDataset(Dataset):
    """Every audio file under the speaker folders; group = speaker id, labels joined from HeightCeleb."""

    modality = "speech"

    def __init__(self, root: str | Path, heightceleb: str | Path | None = None) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"VoxCeleb root {self.root} is not a directory")
        self.speakers_dir = self._find_speakers_dir()
        self.heightceleb = self._table_source(heightceleb)
        if self.heightceleb == HEIGHTCELEB_URL and heightceleb is None:
            self.table = default_heightceleb()  # optional labels: cached, and a failed fetch only warns
        else:
            self.table = read_heightceleb(self.heightceleb) if self.heightceleb else {}

    def _table_source(self, heightceleb: str | Path | None) -> str | None:
        """None: a ``height_celeb.csv`` beside the data, else the public table; "none": no labels."""
        if heightceleb is not None:
            return None if str(heightceleb).lower() in ("", "none") else str(heightceleb)
        local = self.root / "height_celeb.csv"
        return str(local) if local.is_file() else HEIGHTCELEB_URL

    def _find_speakers_dir(self) -> Path:
        """Accept the dataset root (holding ``wav/``) or the folder of ``idXXXXX`` dirs itself."""
        for candidate in (self.root / "wav", self.root):
            if candidate.is_dir() and any(SPEAKER_DIR.match(p.name) for p in candidate.iterdir() if p.is_dir()):
                return candidate
        raise FileNotFoundError(f"{self.root}: no idXXXXX speaker folders here or under wav/")

    def items(self) -> list[Item]:
        out = []
        for path in sorted(self.speakers_dir.rglob("*")):
            rel = path.relative_to(self.speakers_dir)
            if path.suffix.lower() not in AUDIO_SUFFIXES or not SPEAKER_DIR.match(rel.parts[0]):
                continue
            speaker = rel.parts[0]
            row = self.table.get(speaker, {"labels": {}, "split": None})
            out.append(
                Item(
                    id=rel.as_posix(),
                    uri=str(path),
                    content_hash=audio_file_hash(path),
                    labels=dict(row["labels"]),
                    split=row["split"],
                    group=speaker,
                )
            )
        return out

    def load(self, item: Item) -> Audio:
        return read_item(item)


def open_voxceleb(arg: str, heightceleb: str | None = None, **opts: Any) -> VoxCelebDataset:
    """``voxceleb:DIR`` adapter; ``heightceleb``: path or URL of the label table ("none": no labels)."""
    if opts:
        raise TypeError(f"voxceleb: unknown options {sorted(opts)}")
    return VoxCelebDataset(arg, heightceleb=heightceleb)


DATASETS.register("voxceleb", open_voxceleb)
