"""Loads what is registered: the built-in catalog, then entry-point plugins, then EMBEDFORGE_PLUGINS modules.

The registry names no modality. The built-ins are this distribution's own ``embedforge.plugins`` entry point
(``embedforge.modalities.catalog``, declared in ``pyproject.toml``), loaded first and the way a plugin is.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points

PLUGIN_GROUP = "embedforge.plugins"
DISTRIBUTION = "embedforge"  # whose own entry points are the built-ins

_LOADED: set[str] = set()  # entry points already loaded, by name=value
_SCANNED: list[bool] = []  # entry points are scanned once per process (the scan reads every installed dist)
_LOCK = threading.RLock()


def plugin_modules() -> tuple[str, ...]:
    """Extra plugins named in Settings().plugins (EMBEDFORGE_PLUGINS, comma-separated): the override. Each is
    ``module`` or ``module:function``, as an entry point's value is."""
    from embedforge.registry.settings import Settings

    return tuple(m.strip() for m in Settings().plugins.split(",") if m.strip())


@cache
def builtin_entry_points() -> tuple[EntryPoint, ...]:
    """The ``embedforge.plugins`` entry points of embedforge itself (read once): the built-in catalog."""
    try:
        found = tuple(distribution(DISTRIBUTION).entry_points.select(group=PLUGIN_GROUP))
    except PackageNotFoundError:
        found = ()
    if not found:
        raise ImportError(
            f"the installed {DISTRIBUTION} metadata declares no {PLUGIN_GROUP!r} entry point for its built-in "
            "modalities: reinstall the package (make install, or pip install -e .)"
        )
    return tuple(sorted(found, key=lambda ep: (ep.name, ep.value)))


def plugin_entry_points() -> list[EntryPoint]:
    """Installed distributions' ``embedforge.plugins`` entry points, in a stable order."""
    return sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: (ep.name, ep.value))


def load_entry_point(ep: EntryPoint) -> None:
    """A module value registers on import; a callable value (``pkg.mod:register``) is called once."""
    key = f"{ep.name}={ep.value}"
    if key in _LOADED:
        return
    try:
        target = ep.load()
        if callable(target):
            target()
    except Exception as exc:  # a plugin may fail any way on import: wrapped as ImportError naming it
        raise ImportError(f"embedforge plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
    _LOADED.add(key)


def load_catalog(rescan: bool = False) -> None:
    """Register built-in and plugin modalities, encoders, datasets and heads (idempotent)."""
    with _LOCK:
        for ep in builtin_entry_points():
            load_entry_point(ep)
        if rescan or not _SCANNED:
            for ep in plugin_entry_points():
                load_entry_point(ep)  # the built-in entry point again: already loaded, skipped
            _SCANNED[:] = [True]
        for value in plugin_modules():  # loaded as entry points are: a callable called once, failures wrapped
            load_entry_point(EntryPoint(name=value, value=value, group="EMBEDFORGE_PLUGINS"))
