"""``video/clip-vit-*``: open_clip image towers per frame; the text tower of the same weights embeds queries.

``--weights``: an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k``, ...), a checkpoint file for the
architecture, or a directory in open_clip's ``local-dir`` format (``open_clip_config.json`` + weights).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from embedforge.modalities.base import EncoderSpec
from embedforge.modalities.video.encoders import FrameEncoder
from embedforge.registry.encoders import register_encoder

ARCHS = {"clip-vit-b-32": ("ViT-B-32", 512), "clip-vit-b-16": ("ViT-B-16", 512), "clip-vit-l-14": ("ViT-L-14", 768)}
DEFAULT_TAG = "openai"


def spec_for(key: str) -> EncoderSpec:
    arch, dim = ARCHS[key]
    return EncoderSpec(
        name=f"video/{key}",
        dim=dim,
        input={"frames": 8, "arch": arch, "preprocess": "open_clip", "text": True},
        weights=f"open_clip:{arch}/{DEFAULT_TAG}",
        description=f"open_clip {arch} image tower per frame, meanP; text tower for queries",
        license="MIT (open_clip); weights per their source",
        reference=f"open_clip.create_model_and_transforms({arch!r}, pretrained=...) with its own preprocess, "
        "encode_image per frame / encode_text; tests/reference/test_image_encoders.py",
    )


def probe() -> str | None:
    """open_clip is installed; its weights come from a hub unless --weights names a local file or directory."""
    from importlib.util import find_spec

    if find_spec("open_clip") is None:
        return "open_clip is not installed (pip install open-clip-torch)"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return "pretrained tags download from the hub (offline here): pass --weights a local open_clip dir or file"
    return None


def resolve(arch: str, weights: str | None) -> tuple[str, str | None]:
    """(model name, pretrained) for open_clip: ``local-dir:DIR``, (arch, file) or (arch, tag)."""
    source = weights or DEFAULT_TAG
    path = Path(source).expanduser()
    if path.is_dir():
        return f"local-dir:{path}", None
    return arch, str(path) if path.is_file() else source


class ClipVideoEncoder(FrameEncoder):
    """Per-frame image embeddings (the model's own val transform), and ``encode_text`` in the same space."""

    def __init__(self, spec: EncoderSpec, weights: str | None = None, device: str = "cpu", **recipe) -> None:
        import open_clip

        self.spec = spec
        name, pretrained = resolve(spec.input["arch"], weights)
        model, _, self.transform = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
        self.model, self.device = model.eval(), device
        self.tokenizer = open_clip.get_tokenizer(name)
        dim = int(getattr(model, "embed_dim", 0) or model.text_projection.shape[-1])
        if dim != spec.dim:
            raise ValueError(f"{weights}: embeds to {dim} dimensions, {spec.name} is {spec.dim}")
        self.weights_source = weights or f"{spec.input['arch']}/{DEFAULT_TAG}"
        self._setup(**recipe)

    def _forward(self, batch):
        return self.model.encode_image(batch)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Unit text vectors in the clip space: the query encoder of this same identity."""
        import torch

        with torch.inference_mode():
            feats = self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float().cpu().numpy()
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def _register(key: str) -> None:
    spec = spec_for(key)

    @register_encoder(spec, probe)
    def build(weights: str | None = None, device: str = "cpu", **options) -> ClipVideoEncoder:
        """Options: frames (8), fps, pooling (mean|frames), prefetch (2)."""
        return ClipVideoEncoder(spec, weights=weights, device=device, **options)


for _key in ARCHS:
    _register(_key)
