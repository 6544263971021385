"""Time series: UCR/UEA adapter, frozen forecasters (TiRex, Chronos-Bolt, MOMENT), Mantis, MiniRocket, heads."""

from embedforge.modalities.base import Series
from embedforge.modalities.timeseries import dataset, encoders, examples  # noqa: F401  (registration)
from embedforge.modalities.timeseries.raw import QUERY_SUFFIXES, decode_series, read_series
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality


def _series_picture(hit):
    """A stored series drawn as small line plots (analyze's map, search --sheet): read back through its adapter
    (``ucr:SOURCE#split/i``) or from its file."""
    from embedforge.modalities.base import Item
    from embedforge.modalities.sheets import series_picture
    from embedforge.registry.cache import cached_dataset

    uri = str(hit.get("uri") or "")
    if uri.startswith("ucr:") and "#" in uri:
        source, _, item_id = uri.partition("#")
        item = Item(id=item_id, uri=uri, content_hash="")
        return series_picture(cached_dataset(source, {}, "").load(item).values)
    return series_picture(read_series(uri).values)


def _sheet(hits, path):
    from embedforge.modalities.sheets import picture_sheet

    return picture_sheet(hits, path, _series_picture)


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
        contact_sheet=_sheet,
        thumbnail=_series_picture,
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)
