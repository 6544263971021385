"""Speech: audio reading, GE2E and ECAPA speaker encoders, VoxCeleb/TIMIT adapters, height heads."""

from embedforge.modalities.speech import ecapa, ge2e, timit, voxceleb  # noqa: F401  (registration side effects)
from embedforge.modalities.speech.audio import read_audio
from embedforge.registry.datasets import READERS

READERS.register("speech", read_audio)  # a query file for `embedforge search`
