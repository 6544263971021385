"""Cardiac (ECG/PPG) modality: CSFM-layout preprocessing, encoders and dataset adapters.

Importing registers ``cardiac/csfm-base`` and ``cardiac/spectrum``, the ``ecgsim``, ``wfdb`` and
``ecgarray`` adapters and the modality entry; torch, neurokit2 and wfdb load only when they are used.
"""

from embedforge.modalities.cardiac import csfm, datasets, examples, signal, spectrum
from embedforge.modalities.cardiac.raw import QUERY_SUFFIXES, decode_cardiac, read_cardiac
from embedforge.modalities.cardiac.signal import CardiacSeries
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality

MODALITY = register_modality(
    Modality(
        name="cardiac",
        sample_type=CardiacSeries,
        adapters=("ecgsim", "wfdb", "ecgarray"),
        read_query=read_cardiac,
        raw_input=RawInput(
            column="series",
            decode=decode_cardiac,
            description="base64 bytes of a .npy array or CSV (one column per lead, header names them), 250 Hz",
            suffix=".npy",
        ),
        default_heads=("regress/ridge", "regress/pls", "regress/svr"),  # ecgsim, the default adapter: heart rate
        default_encoders=("cardiac/spectrum",),
        default_datasets=("ecgsim:60",),
        default_target="heart_rate",
        query_suffixes=QUERY_SUFFIXES,
        description="ECG/PPG recordings cut into 10 s windows",
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)

__all__ = ["MODALITY", "csfm", "datasets", "signal", "spectrum"]
