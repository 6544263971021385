"""Work keyed on files unchanged since it was last done: 90 MB of weights hashed once per file version, not per run.

A file is taken as unchanged while its size, modification time (ns) and inode are (what git's index and make
trust); any write, copy or replacement changes one of them and the work is done again. Results are small strings
kept under ``EMBEDFORGE_HOME/cache/<kind>/``; a result that cannot be written is simply recomputed next time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def stat_key(paths: Iterable[Path], *extra: str) -> str:
    """A key that changes when any of these files (or the extra strings) does."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        st = os.stat(path)
        h.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
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
