"""Import LanceDB without paying for the REST namespace client that a directory or bucket never uses.

``import lancedb`` (0.40) imports ``lance_namespace``, which needs ``lance_namespace_urllib3_client.models``; the
package's ``__init__`` first imports its nine generated REST API modules, whose pydantic ``validate_call`` wrapping
is about half of LanceDB's import (0.5 s of ~1.2 s on 2 shared cores) and is paid by every command that opens the
store. Here that package is registered with its ``__init__`` deferred: its submodules (the models) import as usual,
and the first attribute asked of the package itself runs the real ``__init__``, so a REST namespace still works.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

DEFERRED = "lance_namespace_urllib3_client"
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


def lancedb_module() -> ModuleType:
    """``lancedb``, imported with the REST client's ``__init__`` deferred (see the module docstring)."""
    defer_package_init(DEFERRED)
    import lancedb

    return lancedb
