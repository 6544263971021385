"""Frozen forecasters as feature extractors (arXiv 2510.26777): the shared recipe plus TiRex and Chronos-Bolt.

Every channel of a series is embedded on its own; the hidden states of all layers are pooled
over the last ceil(T/patch) tokens, L2-normalised per layer, concatenated across layers and
channels and LayerNormed (``pooling.embed_hidden``). ``diff=True`` also embeds the first
differences and puts them in front (the order of tirex's ``TiRexEmbedding``), doubling the
dimension: it is a separate registered encoder (``...-diff``) so its vectors get their own table.

Rows of equal length are batched together (MOMENT, which puts every row on its own masked 512-step grid,
batches any lengths), up to a rows x tokens budget per forward pass; a row never sees padding, so a series gets
the same vector alone or in any batch (up to float rounding of batched matmuls). Tokens are pooled on the
model's device (``pooling.pool_layers``); only (rows, layers, d_model) is copied to the host.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, EncoderSpec, ItemError, Series, state_dict_fingerprint
from embedforge.modalities.timeseries import pooling as pool
from embedforge.modalities.timeseries.augment import difference
from embedforge.modalities.timeseries.series import as_channels
from embedforge.modalities.timeseries.specs import CHRONOS_BOLT_SMALL, TIREX, with_diff

log = logging.getLogger(__name__)
DEFAULT_RECIPE = {"pooling": "mean-last", "layers": "all", "channels": 1}
PRECISIONS = ("fp32", "tf32")  # tf32: CUDA matmuls in TensorFloat-32 (a recorded recipe option; no effect on CPU)
# rows x tokens of one forward pass: bounds activation memory, and short series get big batches. CPU: 64 rows of
# MOMENT's 64 tokens as before (more rows gained nothing here, bench_moment); CUDA: 1,024 such rows (~1.3 GB of
# hidden states at MOMENT-small's shape), to be tuned with bench/gpu_check.py on a GPU
TOKENS_PER_FORWARD = {"cpu": 4096, "cuda": 65536}
Row = tuple[int, int, int, np.ndarray]  # (item, view, channel, series)


class HiddenStateEncoder(Encoder):
    """A frozen sequence model whose per-layer hidden states become one vector per series."""

    patch: int  # time steps per token
    n_layers: int
    d_model: int
    model: Any  # the loaded torch module (subclasses set it)
    tokens_per_forward: int | None = None  # None: TOKENS_PER_FORWARD of the model's device kind

    def __init__(
        self,
        spec: EncoderSpec,
        diff: bool = False,
        pooling: str = "mean-last",
        layers: str = "all",
        channels: int = 1,
        precision: str = "fp32",
    ) -> None:
        if pooling not in pool.STRATEGIES or layers not in pool.LAYERS or channels < 1 or precision not in PRECISIONS:
            raise ValueError(
                f"bad recipe: pooling={pooling!r}, layers={layers!r}, channels={channels}, precision={precision!r}"
            )
        self.diff, self.pooling, self.layers, self.channels = diff, pooling, layers, channels
        self.precision = precision
        used_layers = self.n_layers if layers == "all" else 1
        dim = used_layers * self.d_model * channels * (2 if diff else 1)
        recipe = {
            "diff": diff,
            "pooling": pooling,
            "layers": layers,
            "channels": channels,
            "patch": self.patch,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
        }
        if precision != "fp32":  # only when set, so the identities of existing tables stay as they were
            recipe["precision"] = precision
        base = with_diff(spec) if diff else spec
        self.spec = replace(base, dim=dim, input={**base.input, **recipe})

    @property
    def dim(self) -> int:
        return self.spec.dim

    def _compute_fingerprint(self) -> str:
        """Weights hash; a non-default recipe adds its own hash so vectors never mix."""
        base = state_dict_fingerprint(self.model.state_dict())
        recipe: dict[str, Any] = {"pooling": self.pooling, "layers": self.layers, "channels": self.channels}
        if self.precision != "fp32":
            recipe["precision"] = self.precision
        if recipe == DEFAULT_RECIPE:
            return base
        return base + "+" + hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:6]

    def preprocess(self, sample: Series, item_id: str) -> np.ndarray:
        """(channels, T) float32, padding trimmed; NaN inside is kept (the models mask it)."""
        x = as_channels(sample, item_id)
        if x.shape[0] != self.channels:
            raise ItemError(
                f"{item_id}: {x.shape[0]} channel(s), but this encoder was built for "
                f"{self.channels}; build it with channels={x.shape[0]}"
            )
        if self.diff and x.shape[1] < 2:
            raise ItemError(f"{item_id}: differencing needs at least 2 time steps, got {x.shape[1]}")
        return x

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        views = 2 if self.diff else 1
        rows = [
            (i, v, c, view[c])
            for i, x in enumerate(inputs)
            for v, view in enumerate(([difference(x)] if self.diff else []) + [x])
            for c in range(len(x))
        ]
        pooled = self._pool_rows(rows)
        blocks = np.stack([pooled[(i, v, c)] for i, v, c, _ in rows])  # rows are item, view, channel ordered
        blocks = blocks.reshape(len(inputs) * views, self.channels, *blocks.shape[1:])
        return pool.combine_rows(blocks).reshape(len(inputs), -1).astype(np.float32)

    def _pool_rows(self, rows: list[Row]) -> dict[tuple, np.ndarray]:
        """Run the model chunk by chunk, pool on its device, L2-normalise every row's (layers, dim) on the host."""
        pooled = {}
        for chunk in self._chunks(rows):
            series = [r[3] for r in chunk]
            block = self._pooled(series, [self._n_tokens(len(s)) for s in series])
            for (i, v, c, _), p in zip(chunk, pool.l2_normalize(block.astype(np.float64))):
                pooled[(i, v, c)] = p
        return pooled

    def _chunks(self, rows: list[Row]) -> list[list[Row]]:
        """Rows sharing a forward pass share ``_group_key``; each chunk fits the rows x tokens budget."""
        groups: dict[int, list[Row]] = defaultdict(list)
        for row in rows:
            groups[self._group_key(len(row[3]))].append(row)
        budget = self.tokens_per_forward or TOKENS_PER_FORWARD.get(self._device().type, TOKENS_PER_FORWARD["cuda"])
        chunks = []
        for group in groups.values():
            size = max(1, budget // max(1, self._forward_tokens(len(group[0][3]))))
            chunks += [group[start : start + size] for start in range(0, len(group), size)]
        return chunks

    def _pooled(self, series: list[np.ndarray], n_tokens: list[int]) -> np.ndarray:
        """One forward pass, pooled where the model runs: (n, kept layers, d_model) float32 on the host."""
        import torch

        with torch.inference_mode(), self._matmul_precision():
            block = pool.pool_layers(self._forward(series), n_tokens, self.pooling, self.layers)
            return block.float().cpu().numpy()

    @contextmanager
    def _matmul_precision(self) -> Iterator[None]:
        """TF32 for the forward pass only when asked for and on CUDA; the process-wide setting is restored."""
        import torch

        if self.precision != "tf32" or self._device().type != "cuda":
            yield
            return
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(before)

    def _device(self) -> Any:
        """The torch device the model's weights live on."""
        return next(self.model.parameters()).device

    def _group_key(self, length: int) -> int:
        """Rows are stacked as (n, T): equal lengths only (a subclass that pads itself may say otherwise)."""
        return length

    def _forward_tokens(self, length: int) -> int:
        """Tokens one row of this length costs in a forward pass (for the batch budget)."""
        return pool.n_context_tokens(length, self.patch)

    def _n_tokens(self, length: int) -> int:
        return pool.n_context_tokens(length, self.patch)

    def _forward(self, series: list[np.ndarray]) -> Any:
        """Rows of one group -> hidden states on the device: (n, tokens, layers, d) or one (n, tokens, d) a layer."""
        return self._hidden_tensor(np.stack(series))

    def _hidden_tensor(self, batch: np.ndarray) -> Any:
        """(n, T) equal-length rows -> hidden states on the model's device (see ``_forward``)."""
        raise NotImplementedError

    def _hidden(self, batch: np.ndarray) -> np.ndarray:
        """(n, T) rows -> (n, tokens, layers, d_model) on the host: for checks against reference code, not encode."""
        import torch

        with torch.inference_mode():
            hidden = self._forward(list(batch))
            hidden = hidden if isinstance(hidden, torch.Tensor) else torch.stack(list(hidden), dim=2)
            return hidden.float().cpu().numpy()


def hub_file(weights: str, filename: str) -> str:
    """A file from a local directory, a file path, or a hub repository (cache only when offline)."""
    path = Path(weights).expanduser()
    if path.is_file():
        return str(path)
    if path.is_dir():
        if not (path / filename).is_file():
            raise FileNotFoundError(f"{path} has no {filename}")
        return str(path / filename)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id=weights, filename=filename)


def hub_probe(repo_id: str, filenames: tuple[str, ...], package: str) -> str | None:
    """None when the package is installed and the hub files are in the local cache; imports neither."""
    from importlib.util import find_spec

    if find_spec(package) is None:
        return f"{package} is not installed"
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        if not isinstance(try_to_load_from_cache(repo_id, name), str):
            return f"{repo_id}/{name} is not in the hub cache; pass a local directory as weights"
    return None


# --------------------------------------------------------------------------------------- TiRex
def tirex_backend(device: str) -> str:
    """TiRex's fused sLSTM CUDA kernels (the xlstm package) on a GPU, else its torch backend (per-token steps)."""
    import os
    from importlib.util import find_spec

    if not str(device).startswith("cuda") or os.environ.get("TIREX_NO_CUDA", "").lower() in ("1", "true", "t"):
        return "torch"
    return "cuda" if find_spec("xlstm") is not None else "torch"


class TiRexEncoder(HiddenStateEncoder):
    """TiRex (tirex-ts) with the torch sLSTM backend; weights are a Lightning ``model.ckpt``."""

    def __init__(self, weights: str | None = None, device: str = "cpu", **recipe: Any) -> None:
        from tirex.models.tirex import TiRexZero

        source = weights or TIREX.weights
        self.backend = tirex_backend(device)
        try:
            self.model = TiRexZero.from_pretrained(hub_file(source, "model.ckpt"), backend=self.backend, device=device)
        except (ImportError, RuntimeError) as exc:
            if self.backend == "torch":
                raise
            log.warning("TiRex CUDA kernels unavailable (%s); using the torch backend", exc)
            self.backend = "torch"
            self.model = TiRexZero.from_pretrained(hub_file(source, "model.ckpt"), backend="torch", device=device)
        self.model.eval()
        self.weights_source = source
        self.patch = self.model.config.input_patch_size
        self.n_layers = len(self.model.blocks)
        self.d_model = self.model.out_norm.weight.shape[0]
        super().__init__(TIREX, **recipe)
        self.spec = replace(self.spec, input={**self.spec.input, "context": self.model.config.train_ctx_len})

    def _forward_tokens(self, length: int) -> int:
        """TiRex pads (NaN, left) or cuts every context to its training length: a row always costs that many tokens."""
        return pool.n_context_tokens(self.model.config.train_ctx_len, self.patch)

    def _hidden_tensor(self, batch: np.ndarray) -> Any:
        import torch

        return self.model._embed_context(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))


# --------------------------------------------------------------------------------- Chronos-Bolt
class ChronosBoltEncoder(HiddenStateEncoder):
    """ChronosBolt's encoder (``config.json`` + ``model.safetensors``); the [REG] token is left out."""

    def __init__(self, weights: str | None = None, device: str = "cpu", **recipe: Any) -> None:
        from chronos import ChronosBoltPipeline

        source = weights or CHRONOS_BOLT_SMALL.weights
        self.model = ChronosBoltPipeline.from_pretrained(source).model.to(device).float().eval()
        self.weights_source = source
        cfg = self.model.chronos_config
        self.patch = cfg.input_patch_size
        self.context = cfg.context_length
        self.n_layers = self.model.config.num_layers
        self.d_model = self.model.config.d_model
        super().__init__(CHRONOS_BOLT_SMALL, **recipe)
        self.spec = replace(self.spec, input={**self.spec.input, "context": self.context})

    def _forward_tokens(self, length: int) -> int:
        return pool.n_context_tokens(min(length, self.context), self.patch)

    def _hidden_tensor(self, batch: np.ndarray) -> Any:
        """ChronosBoltModelForForecasting.encode, asking the T5 stack for every layer's output ([REG] dropped)."""
        import torch

        m = self.model
        context = torch.from_numpy(np.ascontiguousarray(batch[:, -self.context :], dtype=np.float32))
        context = context.to(m.device)
        mask = (~torch.isnan(context)).float()
        context, _ = m.instance_norm(context)
        patched, patched_mask = m.patch(context), torch.nan_to_num(m.patch(mask), nan=0.0)
        patched = torch.where(patched_mask > 0.0, patched, 0.0)
        embeds = m.input_patch_embedding(torch.cat([patched, patched_mask], dim=-1))
        attention = (patched_mask.sum(dim=-1) > 0).float()
        n_patch = embeds.shape[1]
        if m.chronos_config.use_reg_token:
            reg = m.shared(torch.full((len(batch), 1), m.config.reg_token_id, device=embeds.device))
            embeds = torch.cat([embeds, reg], dim=-2)
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=-1)
        out = m.encoder(inputs_embeds=embeds, attention_mask=attention, output_hidden_states=True)
        return [h[:, :n_patch] for h in out.hidden_states[1:]]
