"""R²T-MIL against the reference code's structure and algebra: shapes, padding, EPEG and CR-MSA switched off."""

import pytest
import torch
import torch.nn.functional as F

from embedforge.modalities.pathology.rrt import RRTMIL, region_partition, region_reverse, square_padding


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RRTMIL(32, 3).eval()


@pytest.mark.parametrize("n", [1, 7, 64, 5000])
def test_output_shapes(model, n):
    with torch.no_grad():
        logits, attn = model(torch.randn(n, 32))
    assert logits.shape == (1, 3) and attn.shape == (1, n)
    assert torch.isclose(attn.sum(), torch.tensor(1.0), atol=1e-5) and torch.isfinite(logits).all()


def test_reference_defaults():
    m = RRTMIL(1024, 2)
    inner = m.online_encoder.rmsa.attn.attn
    assert (inner.heads, inner.head_dim) == (8, 64) and inner.qkv.bias is not None
    assert inner.pe.kernel_size == (15, 1) and inner.pe.groups == 8 and inner.pe.bias is not None
    cross = m.online_encoder.cr_msa.attn
    assert cross.phi.shape == (512, 3) and cross.attn.pe is None and cross.region_num == 8
    assert m.patch_to_emb[0].in_features == 1024 and m.dp.p == 0.25 and m.predictor.out_features == 2
    assert [layer.bias for layer in m.pool_fn.attention if hasattr(layer, "bias")] == [None, None]
    assert not hasattr(m.online_encoder.rmsa, "mlp")  # no FFN


def test_square_padding_regions():
    x = torch.arange(70.0).reshape(1, 70, 1)
    padded, h, pad, size = square_padding(x, 8)
    assert (h, pad, size) == (16, 256 - 70, 2) and padded[0, 70:].abs().sum() == 0
    regions = region_partition(padded.view(1, h, h, 1), size)
    assert regions.shape == (64, 2, 2, 1)
    assert torch.equal(region_reverse(regions, size, h, h).view(1, -1, 1), padded)


@pytest.mark.parametrize(("n", "extra"), [(50, 14), (60, 4), (200, 25)])
def test_padding_does_not_change_the_prediction(model, n, extra):
    torch.manual_seed(1)
    bag = torch.randn(n, 32)
    padded = torch.cat([bag, torch.randn(extra, 32)])  # caller padding inside the same square
    with torch.no_grad():
        logits, attn = model(bag)
        logits_p, attn_p = model(padded, n_valid=n)
        as_tiles, _ = model(padded)
    torch.testing.assert_close(logits, logits_p, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(attn[:, :n], attn_p[:, :n], atol=1e-6, rtol=1e-4)
    assert attn_p[:, n:].abs().max() == 0
    assert not torch.allclose(logits, as_tiles, atol=1e-4)  # the same rows as tiles do change it


def _manual_mhsa(attn_module, x):
    """Plain multi-head self-attention with the module's weights: what R-MSA is without EPEG in one region."""
    b, n, _ = x.shape
    q, k, v = attn_module.qkv(x).reshape(b, n, 3, attn_module.heads, attn_module.head_dim).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1)
    return attn_module.proj(out)


def test_without_epeg_and_cr_msa_it_is_one_pre_norm_attention_layer():
    torch.manual_seed(2)
    m = RRTMIL(16, 2, epeg=False, cr_msa=False, region_num=1).eval()
    enc = m.online_encoder
    assert enc.cr_msa is None and enc.rmsa.attn.attn.pe is None
    x = torch.randn(1, 36, 512)  # a 6 x 6 square: one region, no padding
    with torch.no_grad():
        expected = enc.norm(x + _manual_mhsa(enc.rmsa.attn.attn, enc.rmsa.norm(x)))
        torch.testing.assert_close(enc(x), expected, atol=1e-5, rtol=1e-4)
        h = m.online_encoder(m.patch_to_emb(x[0, :, :16].contiguous()).unsqueeze(0))
        a = m.pool_fn.attention(h).transpose(-1, -2).softmax(-1)
        logits, _ = m(x[0, :, :16].contiguous())
        torch.testing.assert_close(logits, m.predictor((a @ h).squeeze(1)), atol=1e-5, rtol=1e-4)


def test_epeg_is_a_conv_on_the_attention_logits():
    torch.manual_seed(3)
    on, off = RRTMIL(16, 2, region_num=1).eval(), RRTMIL(16, 2, epeg=False, region_num=1).eval()
    state = {k: v for k, v in on.state_dict().items() if ".pe." not in k}
    off.load_state_dict(state)
    x = torch.randn(49, 16)
    pe = on.online_encoder.rmsa.attn.attn.pe
    with torch.no_grad():
        assert not torch.allclose(on(x)[0], off(x)[0], atol=1e-5)
        pe.weight.zero_()
        pe.bias.fill_(0.7)  # a constant added to every logit of a head: softmax cannot see it
        torch.testing.assert_close(on(x)[0], off(x)[0], atol=1e-5, rtol=1e-4)


def test_cr_msa_matches_the_reference_einsums():
    torch.manual_seed(4)
    cross = RRTMIL(16, 2).online_encoder.cr_msa.attn.eval()
    x = torch.randn(1, 100, 512)
    with torch.no_grad():
        padded, h, _pad, size = square_padding(x, 8)
        regions = region_partition(padded.view(1, h, h, 512), size).view(-1, size * size, 512)
        logits = torch.einsum("w p c, c n -> w p n", regions, cross.phi).transpose(1, 2)
        combine, dispatch = logits.softmax(dim=-1), logits.softmax(dim=1)
        lo, hi = logits.min(dim=-1)[0], logits.max(dim=-1)[0]
        mm = (logits - lo.unsqueeze(-1)) / (hi.unsqueeze(-1) - lo.unsqueeze(-1) + 1e-8)
        reps = torch.einsum("w p c, w n p -> w n p c", regions, combine).sum(dim=-2).transpose(0, 1)
        reps = cross.attn(reps).transpose(0, 1)
        out = torch.einsum("w n c, w n p -> w n p c", reps, mm)
        out = torch.einsum("w n p c, w n p -> w n p c", out, dispatch).sum(dim=1)
        expected = region_reverse(out.view(-1, size, size, 512), size, h, h).view(1, h * h, 512)[:, :100]
        torch.testing.assert_close(cross(x), expected, atol=1e-5, rtol=1e-4)


def test_reference_options_structure():
    m = RRTMIL(16, 2, region_num=4, crmsa_mlp=True, crmsa_heads=1, crmsa_k=5, all_shortcut=True, da_act="tanh")
    enc = m.online_encoder
    assert enc.rmsa.attn.region_num == 4 and enc.cr_msa.attn.region_num == 8  # CR-MSA keeps the reference's 8
    assert (enc.cr_msa.attn.attn.heads, enc.cr_msa.attn.attn.head_dim) == (1, 512) and enc.all_shortcut
    phi = enc.cr_msa.attn.phi
    assert [tuple(layer.weight.shape) for layer in phi if hasattr(layer, "weight")] == [(128, 512), (5, 128)]
    assert all(layer.bias is None for layer in phi if hasattr(layer, "bias"))
    assert isinstance(m.pool_fn.attention[1], torch.nn.Tanh)
    with pytest.raises(ValueError, match="da_act"):
        RRTMIL(16, 2, da_act="sigmoid")


def test_reference_state_dict_names():
    from embedforge.modalities.pathology.rrt import from_reference_state_dict

    ours = RRTMIL(16, 2).state_dict()
    ref = {k.replace("online_encoder.rmsa.", "online_encoder.layers.0.").replace(
        "pool_fn.attention.", "pool_fn.attention.attention."): v for k, v in ours.items()}  # fmt: skip
    assert from_reference_state_dict(ref).keys() == ours.keys()
    with pytest.raises(ValueError, match="one R-MSA layer"):
        from_reference_state_dict({**ref, "online_encoder.layers.1.norm.weight": torch.ones(512)})
