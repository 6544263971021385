"""Patch encoders: real EfficientNet-Lite0 from its package; ResNet-50-trunc, UNI and PLIP loaders on small random
weights written in each model's own on-disk format."""

import json

import numpy as np
import pytest
import torch

from embedforge.modalities.base import ItemError, state_dict_fingerprint
from embedforge.modalities.pathology.slides import Tile
from embedforge.registry.encoders import build_encoder, encoder_entry


def _tiles(n=3, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return [Tile(image=rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def test_efficientnet_lite0_real_weights():
    assert encoder_entry("pathology/efficientnet-lite0").probe() is None
    enc = build_encoder("pathology/efficientnet-lite0")
    assert enc.identity()["dim"] == 1280 and enc.weights_source.endswith("efficientnet-lite0-57934424.pth")
    tiles = _tiles()
    x = [enc.preprocess(t, f"t{i}") for i, t in enumerate(tiles)]
    batch = enc.encode(x)
    assert batch.shape == (3, 1280) and np.isfinite(batch).all()
    np.testing.assert_allclose(enc.encode(x[1:2])[0], batch[1], atol=1e-4)  # independent of batch mates
    mixed = enc.encode([x[0], enc.preprocess(_tiles(1, 96)[0], "big")])  # sizes differ: one forward each
    np.testing.assert_allclose(mixed[0], batch[0], atol=1e-4)
    with pytest.raises(ItemError, match="gray"):
        enc.preprocess(Tile(image=np.zeros((64, 64), np.uint8)), "gray")


def test_resnet50_trunc_from_a_timm_directory(tmp_path):
    import timm
    from safetensors.torch import save_file

    assert "cache" in (encoder_entry("pathology/resnet50-trunc").probe() or "")  # offline: no hub weights here
    torch.manual_seed(0)
    ref = timm.create_model("resnet50", pretrained=False).eval()
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "model.safetensors"))
    enc = build_encoder("pathology/resnet50-trunc", weights=str(tmp_path))
    x = [enc.preprocess(t, "t") for t in _tiles(2)]
    out = enc.encode(x)
    with torch.no_grad():
        trunk = torch.nn.Sequential(ref.conv1, ref.bn1, ref.act1, ref.maxpool, ref.layer1, ref.layer2, ref.layer3)
        expected = trunk(torch.from_numpy(np.stack(x))).mean(dim=(2, 3)).numpy()
    assert out.shape == (2, 1024) and enc.identity()["dim"] == 1024
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert enc.fingerprint == state_dict_fingerprint(ref.state_dict())


def test_uni_from_a_local_directory_with_a_small_config(tmp_path):
    import timm

    args = {"embed_dim": 64, "depth": 2, "num_heads": 2}  # UNI is ViT-L/16; the layout is the same, only smaller
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "vit_large_patch16_224", "model_args": args}))
    torch.manual_seed(1)
    ref = timm.create_model("vit_large_patch16_224", init_values=1e-5, num_classes=0, dynamic_img_size=True, **args)
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    enc = build_encoder("pathology/uni", weights=str(tmp_path))
    x = [enc.preprocess(t, "t") for t in _tiles(2, 100)]
    assert x[0].shape == (3, 224, 224)  # resized to the ViT's input
    with torch.no_grad():
        expected = ref.eval()(torch.from_numpy(np.stack(x))).numpy()
    np.testing.assert_allclose(enc.encode(x), expected, atol=1e-4)
    assert enc.identity()["dim"] == 64 and enc.weights_source == str(tmp_path)


def test_plip_from_a_saved_clip_model(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 32},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(2)
    CLIPModel(config).save_pretrained(tmp_path)
    enc = build_encoder("pathology/plip", weights=str(tmp_path))
    x = [enc.preprocess(t, "t") for t in _tiles(2, 80)]
    assert x[0].shape == (3, 64, 64)
    ref = CLIPModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        expected = ref.get_image_features(pixel_values=torch.from_numpy(np.stack(x)))
    expected = expected if hasattr(expected, "shape") else expected.pooler_output
    np.testing.assert_allclose(enc.encode(x), expected.numpy(), atol=1e-4)
    assert enc.identity()["dim"] == 16
