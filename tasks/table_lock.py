"""One writer at a time per table on one machine: an flock'd file beside a local LanceDB table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse


def local_root(uri: str) -> Path | None:
    """The database folder of a local URI (plain path or file://); None for object storage (s3://, gs://, az://)."""
    parsed = urlparse(str(uri))
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, still local
        return None
    return Path(uri)


@contextmanager
def table_lock(uri: str, table: str) -> Iterator[bool]:
    """Hold ``<db>/.locks/<table>.lock`` exclusively; the kernel releases it if the holder dies (even by SIGKILL).

    Yields True while the lock is held. Object storage has no such lock (yields False): there Lance's
    commit-conflict detection on the primary key does the work.
    """
    root = local_root(uri)
    if root is None:
        yield False
        return
    import fcntl

    folder = root / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
