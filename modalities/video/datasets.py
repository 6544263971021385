"""Video dataset adapters in their native layouts: ``ucf101:DIR``, ``hmdb51:DIR``, ``videofolder:DIR``.

Each clip is an item labelled ``label`` (class name) with its split and group. Videos longer than ``long``
seconds are cut into ``window``-second windows (or shots, ``segments=shots``), each an item
``<path>#w0003`` labelled with its ``start`` and ``end`` seconds, so a search hit says where it is.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.stamps import file_sha256_memo
from embedforge.modalities.video.decode import Video, probe, segments, shot_boundaries, windows
from embedforge.registry.datasets import DATASETS

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"}
GROUP = re.compile(r"_(g\d+)_c\d+", re.IGNORECASE)


class VideoFolder(Dataset):
    """Class folders of videos; subclasses decide each file's split and group."""

    modality = "video"

    def __init__(self, root: Path, window: float = 10.0, long: float = 0.0, segments: str = "fixed") -> None:
        if segments not in ("fixed", "shots"):
            raise ValueError(f"segments must be fixed or shots, got {segments!r}")
        self.root, self.window, self.long, self.segments = root, float(window), float(long), segments

    def entries(self) -> list[tuple[str, str, str | None, str | None]]:
        """(relative path, label, split, group) of every clip to embed."""
        raise NotImplementedError

    def items(self) -> list[Item]:
        out = []
        for rel, label, split, group in self.entries():
            path = self.root / rel
            if not path.is_file() and not (path.exists() or path.is_symlink()):
                log.warning("%s is listed but missing under %s", rel, self.root)
                continue
            base = Item(rel, str(path), _digest(path), {"label": label}, split, group)
            out += self._cut(base) if self.long > 0 else [base]
        return out

    def _cut(self, item: Item) -> list[Item]:
        """Windows (or shots) of a long video; a short or unreadable one stays whole (load reports it)."""
        try:
            duration = probe(item.uri, item.id).duration
        except ItemError:
            return [item]
        if duration <= self.long:
            return [item]
        spans = segments(duration, shot_boundaries(item.uri, item.id)) if self.segments == "shots" else None
        spans = spans or windows(duration, self.window)
        return [window_item(item, i, a, b) for i, (a, b) in enumerate(spans)]

    def load(self, item: Item) -> Video:
        """A lazy reference: the encoder decodes it (in its prefetch thread)."""
        if not Path(item.uri).is_file():
            raise ItemError(f"{item.id}: not a regular file (a folder, a device, a broken or looping link)")
        start, end = item.labels.get("start"), item.labels.get("end")
        return Video(item.uri, start, end)


def window_item(item: Item, i: int, start: float, end: float) -> Item:
    """``clip.mp4#w0003`` with start/end labels; its hash covers the file and the window."""
    digest = hashlib.sha256(f"{item.content_hash}:{start:.3f}:{end:.3f}".encode()).hexdigest()
    labels = {**item.labels, "start": round(start, 3), "end": round(end, 3)}
    return Item(f"{item.id}#w{i:04d}", item.uri, digest, labels, item.split, item.group)


def video_files(folder: Path) -> list[Path]:
    """Everything named like a video, readable or not: a folder named ``x.avi`` or a link loop becomes an item
    that fails at load (recorded, named), never one skipped in silence."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


def _digest(path: Path) -> str:
    """The file's sha256, or a hash of why it cannot be read (the item then fails at load)."""
    try:
        return file_sha256_memo(path)
    except OSError as exc:
        return hashlib.sha256(f"unreadable:{path}:{type(exc).__name__}".encode()).hexdigest()


def class_root(root: Path, *subfolders: str) -> Path:
    """The folder holding the class folders: DIR, one of its known subfolders, or any single folder wrapping them.

    A class folder holds its videos directly; a folder whose only video-holding child is another folder
    (``MyCopy/UCF-101/<Class>/...``) is a wrapper, never a class, so the clips are not all labelled with its name.
    """
    for candidate in [root / s for s in subfolders] + [root]:
        found = _descend(candidate, depth=3)
        if found is not None:
            return found
    raise FileNotFoundError(f"{root}: no class folders of videos here or under {', '.join(subfolders) or '.'}")


def _descend(folder: Path, depth: int) -> Path | None:
    if not folder.is_dir():
        return None
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir())
    if any(p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() for d in subdirs for p in d.iterdir()):
        return folder
    holding = [d for d in subdirs if video_files(d)]
    if len(holding) == 1 and depth > 0:
        return _descend(holding[0], depth - 1)
    return folder if holding else None


class UCF101(VideoFolder):
    """``UCF-101/<Class>/v_<Class>_gNN_cMM.avi`` with ``ucfTrainTestlist`` split lists; group = gNN."""

    def __init__(self, root: Path, splits: str | None = None, split: int = 1, **kw: Any) -> None:
        super().__init__(class_root(root, "UCF-101", "UCF101"), **kw)
        self.lists = Path(splits) if splits else _find(root, "ucfTrainTestlist", "classInd.txt")
        if int(split) not in (1, 2, 3):
            raise ValueError(f"ucf101: split must be 1, 2 or 3, got {split}")
        self.split = int(split)

    def entries(self):
        names = _class_index(self.lists / "classInd.txt") if self.lists else None
        assigned = self._assigned() if self.lists else {}
        out = []
        for path in video_files(self.root):
            rel = path.relative_to(self.root).as_posix()
            cls = rel.split("/")[0]
            group = _group(path.name)
            split = assigned.get(rel.lower()) if assigned else _official_split(group, self.split)
            out.append((rel, names.get(cls.lower(), cls) if names else cls, split, group))
        if assigned and not any(split for _, _, split, _ in out):
            raise ValueError(self._unmatched(assigned, out))
        return out

    def _unmatched(self, assigned: dict[str, str], out: list) -> str:
        """A split list naming none of the clips: a layout mistake, never a run with every split empty."""
        lines = ", ".join(sorted(assigned)[:3])
        clips = ", ".join(rel for rel, *_ in out[:3]) or "none"
        return (
            f"ucf101: split lists in {self.lists} match none of the {len(out)} clips under {self.root} "
            f"(lists name e.g. {lines}; clips are e.g. {clips})"
        )

    def _assigned(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.lists is None:
            return out
        for split, name in (("train", f"trainlist{self.split:02d}.txt"), ("test", f"testlist{self.split:02d}.txt")):
            for line in _lines(self.lists / name):
                out[line.split()[0].lower()] = split
        return out


def _group(filename: str) -> str | None:
    m = GROUP.search(filename)
    return m.group(1).lower() if m else None


def _official_split(group: str | None, split: int) -> str | None:
    """Without the lists: UCF101's rule, groups 1-7 / 8-14 / 15-21 are the test set of split 1 / 2 / 3."""
    if group is None:
        return None
    g = int(group[1:])
    return "test" if (split - 1) * 7 < g <= split * 7 else "train"


def _class_index(path: Path) -> dict[str, str]:
    """``classInd.txt`` (``1 ApplyEyeMakeup``): folder name (lower) -> class name."""
    return {line.split()[1].lower(): line.split()[1] for line in _lines(path)}


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} is missing")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def _find(root: Path, folder: str, pattern: str) -> Path | None:
    """``root/folder``, or a folder of that name below root, holding a file matching ``pattern``."""
    for candidate in [root / folder, *sorted(root.rglob(folder))]:
        if candidate.is_dir() and any(candidate.glob(pattern)):
            return candidate
    return None


class HMDB51(VideoFolder):
    """Class folders plus ``testTrainMulti_7030_splits/<class>_test_split<N>.txt`` (1 train, 2 test, 0 unused)."""

    def __init__(self, root: Path, splits: str | None = None, split: int = 1, **kw: Any) -> None:
        super().__init__(class_root(root, "hmdb51_org", "hmdb51"), **kw)
        self.lists = Path(splits) if splits else _find(root, "testTrainMulti_7030_splits", "*_test_split1.txt")
        if self.lists is None:
            raise FileNotFoundError(f"{root}: no testTrainMulti_7030_splits folder; pass -o splits=DIR")
        self.split = int(split)

    def entries(self):
        out = []
        for listing in sorted(self.lists.glob(f"*_test_split{self.split}.txt")):
            cls = listing.name[: -len(f"_test_split{self.split}.txt")]
            for line in _lines(listing):
                name, code = line.split()[:2]
                if code in ("1", "2"):
                    group = name.split(f"_{cls}_")[0] if f"_{cls}_" in name else None
                    out.append((f"{cls}/{name}", cls, "train" if code == "1" else "test", group))
        return out


class FolderOfClasses(VideoFolder):
    """Any ``<class>/<video>`` tree; a seeded stratified split (``test_fraction``) when no split files exist."""

    def __init__(self, root: Path, test_fraction: float = 0.3, seed: int = 0, **kw: Any) -> None:
        kw.setdefault("long", 30.0)
        super().__init__(class_root(root), **kw)
        self.test_fraction, self.seed = float(test_fraction), int(seed)

    def entries(self):
        out = []
        for cls_dir in sorted(d for d in self.root.iterdir() if d.is_dir()):
            rels = [p.relative_to(self.root).as_posix() for p in video_files(cls_dir)]
            order = np.random.default_rng(self.seed).permutation(len(rels))
            n_test = round(self.test_fraction * len(rels))
            test = {rels[i] for i in order[:n_test]}
            out += [(r, cls_dir.name, "test" if r in test else "train", None) for r in rels]
        return out


def _open(cls):
    def factory(arg: str, **options: Any) -> VideoFolder:
        root = Path(arg).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{cls.__name__.lower()}: {root} is not a directory")
        return cls(root, **options)

    factory.__doc__ = cls.__doc__
    return factory


DATASETS.register("ucf101", _open(UCF101))
DATASETS.register("hmdb51", _open(HMDB51))
DATASETS.register("videofolder", _open(FolderOfClasses))
