"""CSFM's fast paths keep its vectors: no mask when nothing is masked, micro-batches, bf16 autocast within tolerance."""

import numpy as np
import torch

from embedforge.modalities.cardiac.network import CSFMConfig, CSFMSignalEncoder

SMALL = CSFMConfig(dim=64, depth=2, heads=4, dim_head=16, mlp_dim=128)
BF16_MIN_COSINE = 0.995  # bf16 keeps ~3 significant digits; its vectors get their own table (recipe option)


def model_and_batch(n=6, seed=0):
    torch.manual_seed(seed)
    model = CSFMSignalEncoder(SMALL).eval()
    x = torch.randn(n, SMALL.channels, SMALL.signal_size)
    mask = torch.ones(n, SMALL.channels, SMALL.num_patches, dtype=torch.bool)
    return model, x, mask


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1)


def test_an_all_true_mask_takes_the_unmasked_kernel_with_the_same_result():
    model, x, _ = model_and_batch()
    with torch.inference_mode():
        tokens = model.ts_to_patch_embedding(x).flatten(1, 2)
        seq = torch.cat([model.cls_token.expand(len(x), 1, -1), tokens], dim=1)
        keep = torch.ones(seq.shape[:2], dtype=torch.bool)
        masked = seq
        for attn, ff in model.transformer.layers:  # the explicit-mask path, layer by layer
            masked = attn(masked, keep) + masked
            masked = ff(masked) + masked
        explicit = model.transformer.norm(masked)
        fused = model.transformer(seq, keep)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_micro_batches_equal_one_pass_and_partial_masks_still_apply():
    model, x, mask = model_and_batch(n=5)
    mask[1, 3:] = False  # channels 4-13 absent for one item
    with torch.inference_mode():
        whole = model(x, mask)
    chunked = model.embed(x, mask, chunk=2)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[1, 3:] = 1e3  # garbage where masked must not matter
    torch.testing.assert_close(model.embed(x2, mask, chunk=2)[1], whole[1], atol=1e-4, rtol=1e-4)


def test_bf16_autocast_keeps_parity_within_tolerance():
    model, x, mask = model_and_batch()
    fp32 = model.embed(x, mask)
    bf16 = model.embed(x, mask, bf16=True)
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    worst = float(cosine(bf16, fp32).min())
    assert BF16_MIN_COSINE <= worst < 1.0, worst
    assert np.isfinite(bf16.numpy()).all()
