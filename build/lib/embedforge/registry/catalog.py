"""Loads what is registered: built-in modalities, then entry-point plugins, then EMBEDFORGE_PLUGINS modules."""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import EntryPoint, entry_points

PLUGIN_GROUP = "embedforge.plugins"

BUILTIN_MODULES = (
    "embedforge.modalities.heads",
    "embedforge.modalities.speech",
    "embedforge.modalities.timeseries",
    "embedforge.modalities.timeseries.augmentations",
    "embedforge.modalities.cardiac",
    "embedforge.modalities.video",
    "embedforge.modalities.pathology",
)

_LOADED: set[str] = set()  # entry points already loaded, by name=value
_SCANNED: list[bool] = []  # entry points are scanned once per process (the scan reads every installed dist)
_LOCK = threading.RLock()


def plugin_modules() -> tuple[str, ...]:
    """Extra modules named in Settings().plugins (EMBEDFORGE_PLUGINS, comma-separated): the override."""
    from embedforge.registry.settings import Settings

    return tuple(m.strip() for m in Settings().plugins.split(",") if m.strip())


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
    except Exception as exc:
        raise ImportError(f"embedforge plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
    _LOADED.add(key)


def load_catalog(rescan: bool = False) -> None:
    """Register built-in and plugin modalities, encoders, datasets and heads (idempotent)."""
    with _LOCK:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        if rescan or not _SCANNED:
            for ep in plugin_entry_points():
                load_entry_point(ep)
            _SCANNED[:] = [True]
        for module in plugin_modules():
            importlib.import_module(module)
