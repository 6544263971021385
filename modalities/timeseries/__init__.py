"""Time series: UCR/UEA adapter, frozen forecasters (TiRex, Chronos-Bolt, MOMENT), Mantis, MiniRocket, heads."""

from embedforge.modalities.base import Series
from embedforge.modalities.timeseries import dataset, encoders, examples  # noqa: F401  (registration)
from embedforge.modalities.timeseries.raw import QUERY_SUFFIXES, decode_series, read_series
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality

MODALITY = register_modality(
    Modality(
        name="timeseries",
        sample_type=Series,
        adapters=("ucr",),
        read_query=read_series,
        raw_input=RawInput(
            column="series", decode=decode_series, description="base64 bytes of a .npy file or CSV text", suffix=".npy"
        ),
        default_heads=("classify/logreg", "classify/rf", "classify/linear", "classify/ridge"),
        default_encoders=("timeseries/minirocket",),
        default_datasets=("GunPoint", "ItalyPowerDemand"),
        query_suffixes=QUERY_SUFFIXES,
        description="univariate and multivariate series (channels x time)",
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)
