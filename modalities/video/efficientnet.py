"""``video/efficientnet-lite0``: the ImageNet EfficientNet-Lite0 shipped in a package, per frame.

The offline encoder with real behaviour (1280-d pooled features); no text tower, so no text search. The model,
its loader and its preprocessing are shared with ``pathology/efficientnet-lite0``: ``modalities/efficientnet_lite0``.
"""

from __future__ import annotations

from embedforge.modalities.base import EncoderSpec
from embedforge.modalities.efficientnet_lite0 import (
    MEAN,
    RECIPE,
    REFERENCE,
    RESIZE,
    STD,
    WEIGHTS,
    lite0_transform,
    load_lite0,
    probe,
    weights_file,
)
from embedforge.modalities.video.encoders import FrameEncoder
from embedforge.registry.encoders import register_encoder

SPEC = EncoderSpec(
    name="video/efficientnet-lite0",
    dim=1280,
    input={"frames": 8, "image_size": 224, "resize": RESIZE, "mean": list(MEAN), "std": list(STD)},
    weights=WEIGHTS,
    description="ImageNet EfficientNet-Lite0 (TF port, timm tf_efficientnet_lite0) per frame, meanP over K frames",
    license="Apache-2.0",
    reference=REFERENCE,
    recipe=RECIPE,
)


class Lite0Encoder(FrameEncoder):
    """Pooled 1280-d features (pre-logits) of each frame, preprocessing as the weights' source."""

    spec = SPEC

    def __init__(self, weights: str | None = None, device: str = "cpu", size: int = 224, **recipe) -> None:
        path = weights_file(weights)
        self.model = load_lite0(path).to(device)
        self.device = device
        self.size = int(size)
        self.transform = lite0_transform(self.size)
        self.weights_source = SPEC.weights if weights is None else str(path)
        self._setup(**recipe)

    def identity(self):
        ident = super().identity()
        return {**ident, "input": {**ident["input"], "image_size": self.size}}

    def _forward(self, batch):
        return self.model.forward_head(self.model.forward_features(batch), pre_logits=True)


@register_encoder(SPEC, probe)
def build_lite0(weights: str | None = None, device: str = "cpu", **options) -> Lite0Encoder:
    """Options: frames (8), fps, pooling (mean|frames), prefetch (2), size (224)."""
    return Lite0Encoder(weights=weights, device=device, **options)
