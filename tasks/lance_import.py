"""Import LanceDB without paying for the REST namespace client that a directory or bucket never uses.

``import lancedb`` (0.40) imports ``lance_namespace``, which needs ``lance_namespace_urllib3_client.models``; the
package's ``__init__`` first imports its nine generated REST API modules, whose pydantic ``validate_call`` wrapping
is about half of LanceDB's import (0.5 s of ~1.2 s on 2 shared cores) and is paid by every command that opens the
store. Here that package is registered with its ``__init__`` deferred (``registry/lazy_import.py``): its submodules
(the models) import as usual, and the first attribute asked of the package runs the real ``__init__``, so a REST
namespace still works.
"""

from __future__ import annotations

from types import ModuleType

from embedforge.registry.lazy_import import defer_package_init

DEFERRED = "lance_namespace_urllib3_client"


def lancedb_module() -> ModuleType:
    """``lancedb``, imported with the REST client's ``__init__`` deferred (see the module docstring)."""
    defer_package_init(DEFERRED)
    import lancedb

    return lancedb
