"""Import a submodule without running its package's ``__init__``, which may import much more than it needs.

Some packages' ``__init__`` imports every sibling module, and one of them something heavy: LanceDB's REST client
(nine generated API modules, ~0.5 s) or aeon's convolution transforms (Hydra imports torch, ~1.3 s, for MiniRocket,
which never uses it). ``defer_package_init`` registers such a package with its ``__init__`` deferred: its
submodules import as usual, and the first attribute asked of the package itself runs the real ``__init__``, so
``from package import Name`` still works and yields the same objects.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()


def defer_package_init(name: str) -> None:
    """Register package ``name`` with its ``__init__`` run on first attribute access (not if already imported)."""
    with _lock:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return  # not installed, or not a package: nothing to defer
        module = importlib.util.module_from_spec(spec)  # sets __path__, so submodules import without __init__
        loader = spec.loader

        def run_init(attr: str) -> Any:
            with _lock:
                if module.__dict__.pop("__getattr__", None) is not None:
                    loader.exec_module(module)
            return ModuleType.__getattribute__(module, attr)

        module.__dict__["__getattr__"] = run_init
        sys.modules[name] = module
