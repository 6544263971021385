"""``timit:DIR``: TIMIT ``TRAIN|TEST/DRn/<sex><spk>/*.WAV`` with heights (cm) and sex from SPKRINFO.TXT."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from embedforge.modalities.base import Audio, Dataset, Item
from embedforge.modalities.speech.audio import audio_file_hash, read_item
from embedforge.registry.datasets import DATASETS

SPLITS = ("train", "test")
SPEAKER_DIR = re.compile(r"^[mf][a-z0-9]{2,7}$", re.IGNORECASE)  # sex letter + id, e.g. FCJF0
HEIGHT = re.compile(r"^(\d+)'(\d+(?:\.\d+)?)\"?$")


def feet_inches_to_cm(text: str) -> float:
    """``5'11"`` -> 180.3; NaN when the field is not in feet'inches" form."""
    match = HEIGHT.match(text.strip())
    if not match:
        return math.nan
    return round((int(match.group(1)) * 12 + float(match.group(2))) * 2.54, 1)


def read_spkrinfo(path: str | Path) -> dict[str, dict[str, Any]]:
    """SPKRINFO.TXT -> {ID (no sex letter, upper case): {height, sex}}; ';' lines are comments."""
    out: dict[str, dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        fields = line.split()
        if not fields or line.lstrip().startswith(";") or len(fields) < 7:
            continue
        labels: dict[str, Any] = {}
        if fields[1].lower() in ("m", "f"):
            labels["sex"] = fields[1].lower()
        height = feet_inches_to_cm(fields[6])
        if not math.isnan(height):
            labels["height"] = height
        out[fields[0].upper()] = labels
    return out


def _child(parent: Path, name: str) -> Path | None:
    """The sub-directory called ``name`` whatever its case (TIMIT ships in both)."""
    for p in parent.iterdir():
        if p.is_dir() and p.name.lower() == name:
            return p
    return None


class TimitDataset(Dataset):
    """One item per utterance; group = speaker folder (e.g. FCJF0), split from TRAIN/TEST."""

    modality = "speech"

    def __init__(self, root: str | Path, spkrinfo: str | Path | None = None) -> None:
        self.root = self._find_root(Path(root).expanduser())
        info = Path(spkrinfo) if spkrinfo else self._find_spkrinfo()
        if info is not None and not info.is_file():
            raise FileNotFoundError(f"SPKRINFO file {info} does not exist")
        self.spkrinfo = info
        self.speakers = read_spkrinfo(info) if info else {}

    @staticmethod
    def _find_root(root: Path) -> Path:
        """The folder holding TRAIN/ and/or TEST/: ``root`` itself or up to two levels below."""
        for candidate in [root, *root.glob("*"), *root.glob("*/*")]:
            if candidate.is_dir() and any(_child(candidate, s) for s in SPLITS):
                return candidate
        raise FileNotFoundError(f"{root}: no TRAIN/ or TEST/ folder (TIMIT layout) found")

    def _find_spkrinfo(self) -> Path | None:
        for base in (self.root, self.root.parent):
            for path in [*base.glob("*"), *base.glob("*/*")]:
                if path.name.lower() == "spkrinfo.txt" and path.is_file():
                    return path
        return None

    def items(self) -> list[Item]:
        out = []
        for split in SPLITS:
            split_dir = _child(self.root, split)
            for path in sorted(split_dir.glob("*/*/*")) if split_dir else []:
                if self._is_utterance(path):
                    out.append(self._item(path, split))
        return out

    @staticmethod
    def _is_utterance(path: Path) -> bool:
        """``*.WAV`` inside a speaker folder; skip ``X.WAV.wav`` copies that sit beside ``X.WAV``."""
        if path.suffix.lower() != ".wav" or not SPEAKER_DIR.match(path.parent.name):
            return False
        return not (path.stem.lower().endswith(".wav") and path.with_suffix("").exists())

    def _item(self, path: Path, split: str) -> Item:
        speaker = path.parent.name.upper()
        labels = dict(self.speakers.get(speaker[1:], {}))
        labels.setdefault("sex", speaker[0].lower())
        return Item(
            id=path.relative_to(self.root).as_posix(),
            uri=str(path),
            content_hash=audio_file_hash(path),
            labels=labels,
            split=split,
            group=speaker,
        )

    def load(self, item: Item) -> Audio:
        return read_item(item)


def open_timit(arg: str, spkrinfo: str | None = None, **opts: Any) -> TimitDataset:
    """``timit:DIR`` adapter; ``spkrinfo`` overrides where SPKRINFO.TXT is looked for."""
    if opts:
        raise TypeError(f"timit: unknown options {sorted(opts)}")
    return TimitDataset(arg, spkrinfo=spkrinfo)


DATASETS.register("timit", open_timit)
