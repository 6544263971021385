"""Work keyed on files unchanged since it was last done: 90 MB of weights hashed once per file version, not per run,
and a dataset's files hashed once per version, not on every plan.

A file is taken as unchanged while its device, inode, size, and modification and change times (ns) are (what git's
index trusts); any write, copy or replacement changes one of them and the work is done again. Results are small
strings kept under ``EMBEDFORGE_HOME/cache/``; one that cannot be written is simply recomputed next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from embedforge.modalities.base import file_sha256


def _file_stamp(st: os.stat_result) -> str:
    """A file version: device, inode, size, and the modification and change times (ns). ``cp -p`` or ``touch -r``
    can put an old mtime back on new bytes, never an old ctime."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def stat_key(paths: Iterable[Path], *extra: str) -> str:
    """A key that changes when any of these files (or the extra strings) does."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(f"{path.resolve()}\0{_file_stamp(os.stat(path))}\n".encode())
    for part in extra:
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def remembered(kind: str, key: str, compute: Callable[[], str], home: Path | None = None) -> str:
    """``compute()`` once per key; later calls read what it returned."""
    if home is None:
        from embedforge.registry.settings import Settings

        home = Settings().home
    path = Path(home) / "cache" / kind / key
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value)
        os.replace(tmp, path)
    except OSError:  # a read-only home: correct, only slower next time
        pass
    return value


# -- dataset files ----------------------------------------------------------------------
_connections = threading.local()  # one SQLite connection per thread and home
RACY_S = 2.0  # a file changed this recently is not remembered: a rewrite within the clock's tick keeps its times


def _hash_db(home: Path | None) -> sqlite3.Connection | None:
    """The home's file-hash memo (``cache/file-sha256.sqlite``), or None where it cannot be opened."""
    if home is None:  # the settings read at most once a second (0.5 ms each: as often as files, it doubled a scan)
        read = _connections.__dict__.get("home")
        if read is None or time.monotonic() - read[1] > 1.0:
            from embedforge.registry.settings import Settings

            read = _connections.__dict__["home"] = (Settings().home, time.monotonic())
        home = read[0]
    path = Path(home) / "cache" / "file-sha256.sqlite"
    if _connections.__dict__.get("pid") != os.getpid():  # a forked worker never uses its parent's connections
        _connections.__dict__.update(pid=os.getpid(), by_home={})
    opened: dict[str, sqlite3.Connection | None] = _connections.__dict__["by_home"]
    if str(path) not in opened:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=1.0, isolation_level=None)  # autocommit; busy past 1 s: not memoised
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a memo: a row lost in a crash is only hashed again
            db.execute("CREATE TABLE IF NOT EXISTS files (stamp TEXT PRIMARY KEY, sha256 TEXT NOT NULL) WITHOUT ROWID")
            opened[str(path)] = db
        except (sqlite3.Error, OSError):
            opened[str(path)] = None  # a read-only or broken home: every file is hashed, as before
    return opened[str(path)]


def file_sha256_memo(path: str | Path, home: Path | None = None) -> str:
    """A dataset file's sha256, read once per file version: a rerun over unchanged files stats them instead of
    reading every byte again (a VoxCeleb or UCF101 folder is tens of GB). Not a regular file: ``file_sha256``'s
    error. A file that changes while it is read, or changed in the last ``RACY_S`` (git's "racily clean" case: a
    second write within the file system's timestamp tick leaves size and times as they were), is hashed but not
    remembered."""
    now_ns = time.time_ns()
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        return file_sha256(path)  # raises NotARegularFile, naming what it is
    stamp = _file_stamp(before)
    db = _hash_db(home)
    if db is not None:
        try:
            row = db.execute("SELECT sha256 FROM files WHERE stamp = ?", (stamp,)).fetchone()
            if row is not None:
                return str(row[0])
        except sqlite3.Error:
            db = None
    digest = file_sha256(path)
    settled = now_ns - max(before.st_mtime_ns, before.st_ctime_ns) >= RACY_S * 1e9
    if db is not None and settled and _file_stamp(os.stat(path)) == stamp:
        with contextlib.suppress(sqlite3.Error):
            db.execute("INSERT OR REPLACE INTO files (stamp, sha256) VALUES (?, ?)", (stamp, digest))
    return digest
