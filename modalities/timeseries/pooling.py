"""Turning a forecaster's hidden states into one vector (arXiv 2510.26777, NX-AI/tirex embedding).

Per channel: hidden states (tokens, layers, dim) -> pool over tokens -> keep all layers or the
last -> L2-normalise each layer. Across channels: stack as (layers, channels, dim), flatten
layer-major (the order of tirex's ``process_embedding``) and LayerNorm without affine.
The numpy functions are the recipe checked by hand on tiny inputs; ``pool_layers`` is their torch twin that
the encoders run on the model's device (parity tested), so only (n, layers, dim) crosses to the host.
"""

from __future__ import annotations

import math

import numpy as np

STRATEGIES = ("mean-last", "last", "mean")  # mean over the last ceil(T/patch) tokens | last token | all
LAYERS = ("all", "last")


def n_context_tokens(length: int, patch: int) -> int:
    """Tokens that carry the series itself: ceil(T / patch)."""
    return max(1, math.ceil(length / patch))


def pool_tokens(hidden: np.ndarray, n_tokens: int, strategy: str = "mean-last") -> np.ndarray:
    """(tokens, layers, dim) -> (layers, dim)."""
    if strategy == "mean-last":
        return hidden[-n_tokens:].mean(axis=0)
    if strategy == "last":
        return hidden[-1]
    if strategy == "mean":
        return hidden.mean(axis=0)
    raise ValueError(f"unknown pooling strategy {strategy!r}; choose one of {STRATEGIES}")


def select_layers(pooled: np.ndarray, layers: str = "all") -> np.ndarray:
    """(layers, dim) -> all layers, or only the last one as (1, dim)."""
    if layers == "all":
        return pooled
    if layers == "last":
        return pooled[-1:]
    raise ValueError(f"unknown layer selection {layers!r}; choose one of {LAYERS}")


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """x / max(||x||, eps), as torch.nn.functional.normalize."""
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, eps)


def layer_norm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis with no affine parameters (biased variance, as torch)."""
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def combine_channels(per_channel: list[np.ndarray]) -> np.ndarray:
    """[(layers, dim)] * channels -> LayerNorm(flatten(layers, channels, dim))."""
    stacked = np.stack(per_channel, axis=1)  # (layers, channels, dim)
    return layer_norm(stacked.reshape(-1))


def embed_hidden(
    hidden: list[np.ndarray], n_tokens: int, strategy: str = "mean-last", layers: str = "all"
) -> np.ndarray:
    """The whole recipe: one (tokens, layers, dim) array per channel -> one float32 vector."""
    pooled = [l2_normalize(select_layers(pool_tokens(h, n_tokens, strategy), layers)) for h in hidden]
    return combine_channels(pooled).astype(np.float32)


def pool_layers(hidden, n_tokens: list[int], strategy: str = "mean-last", layers: str = "all"):
    """Torch, on the tensors' device: (n, tokens, layers, dim) or per-layer [(n, tokens, dim)] -> (n, kept, dim).

    ``n_tokens`` is per row (rows of one forward may carry series of different lengths, e.g. MOMENT's
    left-padded 512-step grid). Same numbers as ``pool_tokens`` + ``select_layers`` row by row, so only
    the pooled block has to leave the accelerator.
    """
    import torch

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown pooling strategy {strategy!r}; choose one of {STRATEGIES}")
    if layers not in LAYERS:
        raise ValueError(f"unknown layer selection {layers!r}; choose one of {LAYERS}")
    per_layer = list(hidden.unbind(2)) if isinstance(hidden, torch.Tensor) else list(hidden)
    kept = per_layer[-1:] if layers == "last" else per_layer
    return torch.stack([_pool_one_layer(h, n_tokens, strategy) for h in kept], dim=1)


def _pool_one_layer(h, n_tokens: list[int], strategy: str):
    """(n, tokens, dim) -> (n, dim); mean-last averages each row's own last n_tokens tokens."""
    import torch

    if strategy == "last":
        return h[:, -1]
    if strategy == "mean":
        return h.mean(dim=1)
    counts = sorted(set(n_tokens))
    if len(counts) == 1:
        return h[:, -counts[0] :].mean(dim=1)
    out = h.new_empty((h.shape[0], h.shape[2]))
    for k in counts:
        rows = torch.tensor([i for i, t in enumerate(n_tokens) if t == k], device=h.device)
        out[rows] = h[rows, -k:].mean(dim=1)
    return out


def combine_rows(pooled: np.ndarray) -> np.ndarray:
    """(n, channels, layers, dim) L2-normalised blocks -> (n, layers*channels*dim): ``combine_channels`` per row."""
    return layer_norm(pooled.transpose(0, 2, 1, 3).reshape(len(pooled), -1))
