"""The built-in catalog: importing this module registers every built-in modality, its encoders, adapters and heads.

Each package is named here once, explicitly. The registry never imports a modality: this module is the
distribution's own ``embedforge.plugins`` entry point (``pyproject.toml``), which ``registry/catalog.py`` loads
before any plugin's, so built-ins and plugins register the same way.
"""

from embedforge.modalities import cardiac, heads, pathology, speech, text, timeseries, video
from embedforge.modalities.timeseries import augmentations

BUILTIN = (heads, speech, timeseries, augmentations, cardiac, video, pathology, text)

__all__ = ["BUILTIN"]
