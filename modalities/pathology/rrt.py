"""R²T-MIL (Tang et al., CVPR 2024), ported from the reference code DearCaat/RRT-MIL (modules/rrt.py, rmsa.py,
datten.py) with its defaults: Linear(d->512)+ReLU+Dropout(0.25); one R-MSA layer (bag zero-padded to a
ceil(sqrt N) square rounded up to ``region_num``, cut into region_num x region_num regions, 8 heads of 64,
qkv bias, EPEG = depthwise (k,1) conv with bias on each head's attention logits, k=15, attention output
dropout 0.1); one CR-MSA layer (crmsa_k=3, ``crmsa_heads`` heads, no EPEG, always 8 x 8 regions: the
reference builds it without passing ``region_num`` on, so its TransLayer default of 8 holds whatever
``region_num`` is; representatives by a (512, k) matrix or, with ``crmsa_mlp``, 512->128 tanh ->k without
biases); pre-LayerNorm with residuals, no FFN; ``all_shortcut`` adds the encoder's input back before the
final LayerNorm; AB-MIL pooling 512->128->1 without biases, its activation ``da_act`` (relu, the reference
class default; tanh in every published training command; gelu); Linear(512->C); xavier-normal init.
Checked against the reference's own outputs by the golden files of tests/reference/.

One addition: ``n_valid`` marks rows past it as padding a caller added (to batch bags); they are zeroed
where the reference zero-pads and left out of the pooling, so a padded bag predicts as the unpadded one
whenever the padding stays inside the same square. The reference's ablation-only paths (Nystrom attention,
PEG/PPEG, 2-D EPEG, min-region fallback) are left out.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _rows_kept(x: torch.Tensor, n_valid: int | None) -> torch.Tensor:
    """Zero the rows past ``n_valid`` (caller padding), as the reference's own zero padding."""
    if n_valid is None or n_valid >= x.shape[1]:
        return x
    keep = (torch.arange(x.shape[1], device=x.device) < n_valid).to(x.dtype)
    return x * keep[None, :, None]


def region_partition(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W, C) -> (regions*B, size, size, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, size, size, c)


def region_reverse(regions: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """(regions*B, size, size, C) -> (B, H, W, C)."""
    b = int(regions.shape[0] / (h * w / size / size))
    x = regions.view(b, h // size, w // size, size, size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def square_padding(x: torch.Tensor, region_num: int) -> tuple[torch.Tensor, int, int, int]:
    """Zero-pad (B, L, C) to an H x H square, H = ceil(sqrt L) rounded up to region_num; -> (x, H, pad, size)."""
    b, length, c = x.shape
    h = int(np.ceil(np.sqrt(length)))
    h += -h % region_num
    pad = h * h - length
    if pad > 0:
        x = torch.cat([x, torch.zeros((b, pad, c), device=x.device, dtype=x.dtype)], dim=1)
    return x, h, pad, h // region_num


class InnerAttention(nn.Module):
    """Multi-head self-attention inside a region; EPEG adds a (k,1) depthwise conv of the logits."""

    def __init__(self, dim: int, heads: int = 8, head_dim: int = 64, qkv_bias: bool = True, proj_drop: float = 0.1,
                 epeg: bool = True, epeg_k: int = 15) -> None:  # fmt: skip
        super().__init__()
        self.heads, self.head_dim, self.scale = heads, head_dim, head_dim**-0.5
        self.qkv = nn.Linear(dim, heads * head_dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.pe = nn.Conv2d(heads, heads, (epeg_k, 1), padding=(epeg_k // 2, 0), groups=heads) if epeg else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.pe is not None:
            attn = attn + self.pe(attn)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        return self.proj_drop(self.proj(x))


class RegionAttention(nn.Module):
    """R-MSA: attention within each of region_num x region_num regions of the padded square bag."""

    def __init__(self, dim: int, region_num: int = 8, **attn) -> None:
        super().__init__()
        self.region_num, self.attn = region_num, InnerAttention(dim, **attn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        x, h, _, size = square_padding(x, self.region_num)
        regions = region_partition(x.view(b, h, h, c), size).view(-1, size * size, c)
        out = self.attn(regions).view(-1, size, size, c)
        return region_reverse(out, size, h, h).view(b, h * h, c)[:, :length]


class CrossRegionAttention(nn.Module):
    """CR-MSA: k representatives per region (softmax over its tokens), attention across regions, dispatched back."""

    phi: nn.Module | nn.Parameter

    def __init__(self, dim: int, region_num: int = 8, crmsa_k: int = 3, crmsa_mlp: bool = False, **attn) -> None:
        super().__init__()
        self.region_num, self.attn = region_num, InnerAttention(dim, epeg=False, **attn)
        if crmsa_mlp:  # the reference's phi MLP: Linear(dim, dim/4, no bias), tanh, Linear(dim/4, k, no bias)
            self.phi = nn.Sequential(
                nn.Linear(dim, dim // 4, bias=False), nn.Tanh(), nn.Linear(dim // 4, crmsa_k, bias=False)
            )
        else:
            self.phi = nn.Parameter(torch.empty(dim, crmsa_k))
            nn.init.kaiming_uniform_(self.phi, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        x, h, _, size = square_padding(x, self.region_num)
        regions = region_partition(x.view(b, h, h, c), size).view(-1, size * size, c)
        if isinstance(self.phi, nn.Module):
            logits = self.phi(regions).transpose(1, 2)  # regions, k, tokens
        else:
            logits = torch.einsum("wpc,cn->wpn", regions, self.phi).transpose(1, 2)
        combine, dispatch = logits.softmax(dim=-1), logits.softmax(dim=1)
        lo, hi = logits.min(dim=-1, keepdim=True)[0], logits.max(dim=-1, keepdim=True)[0]
        dispatch_mm = (logits - lo) / (hi - lo + 1e-8)
        reps = (combine @ regions).transpose(0, 1)  # k, regions, C (the reference's einsum-then-sum, fused)
        reps = self.attn(reps).transpose(0, 1)  # regions, k, C
        out = ((dispatch_mm * dispatch).transpose(1, 2) @ reps).view(-1, size, size, c)  # sum over the k
        return region_reverse(out, size, h, h).view(b, h * h, c)[:, :length]


class TransLayer(nn.Module):
    """x + attn(LayerNorm(x)); no FFN, no drop path (the reference defaults)."""

    def __init__(self, attn: nn.Module, dim: int = 512) -> None:
        super().__init__()
        self.norm, self.attn = nn.LayerNorm(dim), attn

    def forward(self, x: torch.Tensor, n_valid: int | None = None) -> torch.Tensor:
        return x + self.attn(_rows_kept(self.norm(x), n_valid))


CRMSA_REGION_NUM = 8  # the reference's CR-MSA layer never receives region_num: its TransLayer default holds


class RRTEncoder(nn.Module):
    """One R-MSA layer, then CR-MSA (or identity), then (with ``all_shortcut``) + the input, then LayerNorm."""

    all_shortcut = False  # class default: encoders pickled before the option existed keep working

    def __init__(self, dim: int = 512, region_num: int = 8, heads: int = 8, epeg: bool = True, epeg_k: int = 15,
                 cr_msa: bool = True, crmsa_k: int = 3, crmsa_heads: int = 8, crmsa_mlp: bool = False,
                 all_shortcut: bool = False, drop: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        inner = {"head_dim": dim // heads, "proj_drop": drop}
        self.rmsa = TransLayer(RegionAttention(dim, region_num, heads=heads, epeg=epeg, epeg_k=epeg_k, **inner), dim)
        cr_inner = {"heads": crmsa_heads, "head_dim": dim // crmsa_heads, "proj_drop": drop}
        cross = CrossRegionAttention(dim, CRMSA_REGION_NUM, crmsa_k, crmsa_mlp, **cr_inner)
        self.cr_msa = TransLayer(cross, dim) if cr_msa else None
        self.all_shortcut = all_shortcut
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, n_valid: int | None = None) -> torch.Tensor:
        shortcut = x
        x = self.rmsa(x, n_valid)
        if self.cr_msa is not None:
            x = self.cr_msa(x, n_valid)
        if self.all_shortcut:
            x = x + shortcut
        return self.norm(x)


DA_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class AttentionPool(nn.Module):
    """AB-MIL pooling as the reference's DAttention: Linear(512,128,no bias), ``act``, Linear(128,1,no bias)."""

    def __init__(self, dim: int = 512, hidden: int = 128, act: str = "relu") -> None:
        super().__init__()
        if act not in DA_ACTIVATIONS:
            raise ValueError(f"da_act must be one of {sorted(DA_ACTIVATIONS)}, got {act!r}")
        layers = [nn.Linear(dim, hidden, bias=False), DA_ACTIVATIONS[act](), nn.Linear(hidden, 1, bias=False)]
        self.attention = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, n_valid: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.attention(x).transpose(-1, -2)  # B, 1, N
        if n_valid is not None and n_valid < x.shape[1]:
            a = a.masked_fill(torch.arange(x.shape[1], device=x.device) >= n_valid, float("-inf"))
        a = a.softmax(dim=-1)
        return (a @ x).squeeze(1), a.squeeze(1)


class RRTMIL(nn.Module):
    """Embed, re-embed (R-MSA + CR-MSA), attention-pool, classify: bag (1, N, d) -> logits (1, C), attention (1, N).

    ``da_act`` defaults to the reference class's ``relu``; the ``mil/r2t`` head defaults to the published ``tanh``.
    """

    def __init__(self, input_dim: int, n_classes: int, dropout: float = 0.25, da_act: str = "relu", **encoder) -> None:
        super().__init__()
        self.patch_to_emb = nn.Sequential(nn.Linear(input_dim, 512), nn.ReLU())
        self.dp = nn.Dropout(dropout)
        self.online_encoder = RRTEncoder(dim=512, **encoder)
        self.pool_fn = AttentionPool(512, act=da_act)
        self.predictor = nn.Linear(512, n_classes)
        self.apply(initialize_weights)

    def forward(self, x: torch.Tensor, n_valid: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 2:
            x = x.unsqueeze(0)
        x = self.online_encoder(_rows_kept(self.dp(self.patch_to_emb(x)), n_valid), n_valid)
        pooled, attn = self.pool_fn(x, n_valid)
        return self.predictor(pooled), attn


def initialize_weights(module: nn.Module) -> None:
    """The reference's init: xavier-normal Linear/Conv2d with zero bias, LayerNorm 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)


def from_reference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state_dict of the reference's ``RRTMIL`` (modules/rrt.py) under this module's names.

    Its one R-MSA layer is ``online_encoder.layers.0`` here ``online_encoder.rmsa``; its pooling's
    ``pool_fn.attention.attention`` is ``pool_fn.attention``; every other name is the same.
    """
    renames = (
        ("online_encoder.layers.0.", "online_encoder.rmsa."),
        ("pool_fn.attention.attention.", "pool_fn.attention."),
    )
    out = {}
    for name, value in state.items():
        if name.startswith("online_encoder.layers.") and not name.startswith("online_encoder.layers.0."):
            raise ValueError(f"{name}: only one R-MSA layer (the reference's n_layers=2) is ported")
        for old, new in renames:
            if name.startswith(old):
                name = new + name[len(old) :]
        out[name] = value
    return out
