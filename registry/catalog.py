"""Imports every built-in modality explicitly, so what is registered is predictable."""

from __future__ import annotations

import importlib
import os

BUILTIN_MODULES = (
    "embedforge.modalities.speech",
    "embedforge.modalities.timeseries",
    "embedforge.modalities.timeseries.augmentations",
    "embedforge.modalities.cardiac",
    "embedforge.modalities.video",
)


def plugin_modules() -> tuple[str, ...]:
    """Extra modules named in EMBEDFORGE_PLUGINS (comma-separated), e.g. a lab's own encoders."""
    raw = os.environ.get("EMBEDFORGE_PLUGINS", "")
    return tuple(m.strip() for m in raw.split(",") if m.strip())


def load_catalog() -> None:
    """Register built-in and plugin encoders, datasets and heads (idempotent: modules import once)."""
    for module in BUILTIN_MODULES + plugin_modules():
        importlib.import_module(module)
