"""What several benchmarks measure the same way (imported as a sibling module: benches run as scripts)."""

from __future__ import annotations

import contextlib


def cpu_seconds() -> float:
    """CPU time of this process and its children (the ephemeral Prefect server runs in one)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total
