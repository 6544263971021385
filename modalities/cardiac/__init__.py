"""Cardiac (ECG/PPG) modality: CSFM-layout preprocessing, encoders and dataset adapters.

Importing registers ``cardiac/csfm-base`` and ``cardiac/spectrum`` and the ``wfdb``, ``ecgarray``
and ``ecgsim`` adapters; torch, neurokit2 and wfdb load only when they are used.
"""

from embedforge.modalities.cardiac import csfm, datasets, signal, spectrum

__all__ = ["csfm", "datasets", "signal", "spectrum"]
