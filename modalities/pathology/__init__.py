"""Pathology: whole-slide tiling (OpenSlide), patch encoders, slide-level MIL heads.

Importing registers the ``slides`` adapter, the ``pathology/*`` encoders, the ``mil/*`` heads and the
modality entry; torch, timm, transformers, OpenSlide and OpenCV load only when they are used.
"""

from embedforge.modalities.pathology import datasets, encoders, examples, mil, recipes  # noqa: F401  (registration)
from embedforge.modalities.pathology.slides import Tile, decode_image_tile, read_image_tile
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality


def _tile_sheet(hits, path):
    from embedforge.modalities.pathology.sheet import tile_sheet

    return tile_sheet(hits, path)


def _tile(hit):
    from embedforge.modalities.pathology.sheet import hit_tile

    return hit_tile(hit)


MODALITY = register_modality(
    Modality(
        name="pathology",
        sample_type=Tile,
        adapters=("slides",),
        read_query=read_image_tile,
        raw_input=RawInput(
            column="tile",
            decode=decode_image_tile,
            description="base64 PNG/JPEG bytes of one tile (tile encoders); slide heads take 'tiles' vectors",
            suffix=".png",
        ),
        default_heads=("mil/mean", "mil/abmil", "mil/r2t"),
        default_encoders=("pathology/efficientnet-lite0",),
        query_suffixes=(".png", ".jpg", ".jpeg", ".tif", ".tiff"),
        description="whole-slide images cut into tissue tiles; slides are bags of tile vectors",
        contact_sheet=_tile_sheet,
        thumbnail=_tile,
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)

__all__ = ["MODALITY", "Tile", "datasets", "encoders", "mil"]
