"""Video: PyAV decoding, CLIP and EfficientNet-Lite0 frame encoders, UCF101/HMDB51/folder adapters, heads.

Importing registers the ``video`` modality, its encoders, adapters and heads; torch, open_clip, timm and av
load only when used.
"""

from embedforge.modalities.video import clip, datasets, efficientnet, examples, heads  # noqa: F401  (registration)
from embedforge.modalities.video.decode import Video
from embedforge.modalities.video.raw import decode_request, read_video_file
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality

SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


def _contact_sheet(hits, path):
    from embedforge.modalities.video.search import contact_sheet

    return contact_sheet(hits, path)


def _thumbnail(hit):
    from embedforge.modalities.video.search import middle_frame

    return middle_frame(hit)


MODALITY = register_modality(
    Modality(
        name="video",
        sample_type=Video,
        adapters=("ucf101", "hmdb51", "videofolder"),
        read_query=read_video_file,
        raw_input=RawInput(
            "video", decode_request, "base64 video file (mp4, avi, ...), size and duration limited", ".mp4"
        ),
        default_heads=("classify/logreg", "classify/ridge"),
        default_encoders=("video/efficientnet-lite0",),
        query_suffixes=SUFFIXES,
        description="video clips: K frames per clip through an image encoder, meanP pooled",
        contact_sheet=_contact_sheet,
        thumbnail=_thumbnail,
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    ),
)
