"""The run-time settings every encoder build applies: the device ``auto`` resolves to and the torch thread cap.

Neither imports torch unless it is installed (``auto``) or already loaded (the cap); ``build_encoder`` applies
both. Batch sizes and the CPU/accelerator parity gate live in ``embedforge.modalities.runtime``.
"""

from __future__ import annotations

import glob
import os
import sys


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else unchanged.

    On Linux without a GPU device node torch is not imported to ask (1.5-2 s of a command's start, and
    encoders such as MiniRocket never need it).
    """
    if device not in (None, "", "auto"):
        return str(device)
    from importlib.util import find_spec

    if find_spec("torch") is None or not gpu_device_nodes():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_device_nodes() -> bool:
    """A GPU the driver exposes (NVIDIA or ROCm), or a platform where this cannot be told from /dev."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg")


def default_threads(concurrent: int = 1) -> int:
    """Threads for one of ``concurrent`` shards run at once: the usable cores shared out, at least one, and no
    more than ``OMP_NUM_THREADS`` where the user exported it (the usual way to ask a process for fewer).

    Torch's default (every core in each of them) oversubscribes: on 2 shared cores a GE2E shard of 120 files
    took 2.0-41.6 s at the default against 2.9-6.1 s at one thread.
    """
    share = max(1, len(os.sched_getaffinity(0)) // max(1, concurrent))
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    return min(share, int(asked)) if asked.isdigit() and int(asked) > 0 else share


def torch_threads(concurrent: int = 1) -> int:
    """``EMBEDFORGE_TORCH_THREADS`` when set, else ``default_threads(concurrent)``."""
    from embedforge.registry.settings import Settings

    return Settings().torch_threads or default_threads(concurrent)


def cap_torch_threads(threads: int | None = None, concurrent: int = 1) -> int | None:
    """Cap torch's intra-op threads (default ``torch_threads(concurrent)``) if torch is loaded; never imports it."""
    if "torch" not in sys.modules:
        return None
    if threads is None:
        threads = torch_threads(concurrent)
    torch = sys.modules["torch"]
    if torch.get_num_threads() != threads:
        torch.set_num_threads(int(threads))
    return int(threads)
