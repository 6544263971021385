"""Speech: audio reading, GE2E and ECAPA speaker encoders, VoxCeleb/TIMIT adapters, height heads."""

from modalities.speech import ecapa, ge2e, timit, voxceleb  # noqa: F401  (registration side effects)
from modalities.speech.audio import read_audio  # noqa: E402
from registry.datasets import READERS  # noqa: E402

READERS.register("speech", read_audio)  # a query file for `embedflow search`
