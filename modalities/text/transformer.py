"""Sentence-transformers directories run with transformers' ``AutoModel``/``AutoTokenizer`` directly.

A directory in sentence-transformers' layout is read the way ``SentenceTransformer(dir)`` reads it: ``modules.json``
(Transformer -> Pooling -> optional Normalize; any other module is refused, never silently skipped), the
Transformer module's ``sentence_bert_config.json`` (``max_seq_length``, ``do_lower_case``), the Pooling module's
config (legacy ``pooling_mode_*`` flags or ``pooling_mode``; several modes are concatenated in its order;
``include_prompt``) and ``config_sentence_transformers.json`` (``prompts``, ``default_prompt_name``). A directory
without ``modules.json`` is a plain transformers model: mean pooling, no normalisation (what sentence-transformers
builds for one).

Prompts follow ``encode_query``/``encode_document``: a query gets the ``query`` prompt (none if absent); a
document the first non-empty of ``document``, ``passage``, ``corpus`` (the order ``encode_document`` documents;
sentence-transformers 6.2 itself always adds an empty ``document`` prompt, so for a directory that names only
``passage`` its ``encode_document`` needs ``prompt_name="passage"`` to do the same), else the
``default_prompt_name`` one. Search queries
(``search --query``/``--text``) and BEIR queries are queries; everything else is a document.

``pooling=`` overrides the configured pooling: ``cls``, ``mean``, ``max``, ``first-last-mean`` (mean over tokens of
the average of the first transformer layer and the last, WhiteningBERT / SimCSE's ``avg_first_last``) or
``last2-mean`` (of the last two layers). Inputs are tokenised in ``preprocess`` (truncated at
``max_seq_length`` word pieces, as ``SentenceTransformer.encode``); ``encode`` sorts a batch by length and pads each
sub-batch to its longest. ``chunks=mean`` reads a longer text whole instead: overlapping windows of
``max_seq_length`` word pieces (``overlap``, default 32), each embedded as a full input, averaged into one vector.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, EncoderSpec, ItemError, state_dict_fingerprint
from embedforge.modalities.runtime import quiet_weight_loading
from embedforge.modalities.text.sample import Text
from embedforge.modalities.text.windows import window_starts

LEGACY_MODES = {  # sentence-transformers' concatenation order
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
ST_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
LAYER_MODES = ("first-last-mean", "last2-mean")
POOLINGS = ("cls", "mean", "max", *LAYER_MODES)  # what pooling= accepts
DOCUMENT_PROMPTS = ("document", "passage", "corpus")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "merges.txt",
    "vocab.json",
)
BATCH = 32
CHUNKS = ("truncate", "mean")  # a text longer than max_seq_length: cut (sentence-transformers) or windows pooled
OVERLAP = 32  # word pieces two neighbouring windows share (chunks=mean)


@dataclass(frozen=True)
class STConfig:
    """What a sentence-transformers directory declares about its forward."""

    root: Path  # the directory given
    transformer: Path  # the Transformer module's folder (the root, or 0_Transformer)
    max_seq_length: int | None
    do_lower_case: bool
    pooling: tuple[str, ...]
    include_prompt: bool = True
    normalize: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    def prompt(self, role: str) -> str:
        if role == "query":
            return self.prompts.get("query", "")
        for name in DOCUMENT_PROMPTS:
            if self.prompts.get(name):
                return self.prompts[name]
        return self.prompts.get(self.default_prompt_name or "", "")

    def document_prompt_name(self) -> str | None:
        """The prompt a document gets, by name (what ``encode_document(prompt_name=...)`` is told)."""
        names = [n for n in DOCUMENT_PROMPTS if self.prompts.get(n)]
        return names[0] if names else self.default_prompt_name


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None


def _pooling_modes(cfg: dict[str, Any], where: Path) -> tuple[str, ...]:
    if "pooling_mode" in cfg:
        mode = cfg["pooling_mode"]
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    else:
        modes = tuple(m for k, m in LEGACY_MODES.items() if cfg.get(k)) or ("mean",)
    bad = [m for m in modes if m not in ST_MODES]
    if bad:
        raise ValueError(f"{where}: unknown pooling mode(s) {bad}")
    return modes


def read_st_dir(root: str | Path) -> STConfig:
    """Read a sentence-transformers (or plain transformers) directory's declared forward."""
    root = Path(root)
    if not (root / "config.json").is_file() and not (root / "modules.json").is_file():
        raise FileNotFoundError(f"{root}: no modules.json or config.json: not a sentence-transformers directory")
    st = _json(root / "config_sentence_transformers.json")
    prompts = {str(k): str(v) for k, v in (st.get("prompts") or {}).items()}
    default_prompt = st.get("default_prompt_name")
    modules = _json(root / "modules.json") if (root / "modules.json").is_file() else None
    if modules is not None and not (isinstance(modules, list) and all(isinstance(m, dict) for m in modules)):
        raise ValueError(f"{root}/modules.json: not a list of modules")
    if modules is None:  # a plain transformers model: what SentenceTransformer(dir) builds around it
        bert = _json(root / "sentence_bert_config.json")
        return STConfig(
            root,
            root,
            bert.get("max_seq_length"),
            bool(bert.get("do_lower_case", False)),
            ("mean",),
            prompts=prompts,
            default_prompt_name=default_prompt,
        )
    transformer = pooling = None
    normalize = False
    for i, module in enumerate(sorted(modules, key=lambda m: m.get("idx", 0))):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        folder = root / module.get("path", "")
        if kind == "Transformer" and i == 0:
            transformer = folder
        elif kind == "Pooling" and transformer is not None and pooling is None:
            pooling = _json(folder / "config.json")
        elif kind == "Normalize" and pooling is not None:
            normalize = True
        else:
            raise ValueError(
                f"{root}/modules.json: module {i} ({module.get('type')}) is not supported here: only "
                "Transformer -> Pooling -> optional Normalize is"
            )
    if transformer is None or pooling is None:
        raise ValueError(f"{root}/modules.json: needs a Transformer module followed by a Pooling module")
    bert = _json(transformer / "sentence_bert_config.json")
    return STConfig(
        root=root,
        transformer=transformer,
        max_seq_length=bert.get("max_seq_length"),
        do_lower_case=bool(bert.get("do_lower_case", False)),
        pooling=_pooling_modes(pooling, root / "modules.json"),
        include_prompt=bool(pooling.get("include_prompt", True)),
        normalize=normalize,
        prompts=prompts,
        default_prompt_name=default_prompt,
    )


def _files_hash(folder: Path) -> str:
    """The tokenizer's files: another vocabulary is another model, even with the same tensors."""
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            h.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class TransformerTextEncoder(Encoder):
    """One sentence-transformers directory, run with ``AutoModel``; vectors as ``SentenceTransformer.encode``."""

    sorts_by_length = True  # encode() sorts by length and batches by batch_size: a whole shard at once
    unit_name = "tokens"

    def input_units(self, inputs: list[dict[str, Any]]) -> int:
        """Word pieces the model reads for these inputs (every window of a long text, special tokens included)."""
        parts = [w for x in inputs for w in (x.get("windows") or [x["ids"]])]
        return sum(len(w["input_ids"]) for w in parts)

    def __init__(
        self,
        spec: EncoderSpec,
        folder: Path,
        source: str,
        device: str = "cpu",
        pooling: str | None = None,
        batch_size: int = BATCH,
        chunks: str = "truncate",
        overlap: int = OVERLAP,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.config = cfg = read_st_dir(folder)
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"{spec.name}: pooling={pooling!r}; expected one of {', '.join(POOLINGS)}")
        if chunks not in CHUNKS:
            raise ValueError(f"{spec.name}: chunks={chunks!r}; expected one of {', '.join(CHUNKS)}")
        self.chunks, self.overlap = chunks, int(overlap)
        self.modes: tuple[str, ...] = (pooling,) if pooling else cfg.pooling
        self.device, self.batch_size, self.weights_source = device, int(batch_size), source
        self.tokenizer = AutoTokenizer.from_pretrained(str(cfg.transformer))
        self.lower = cfg.do_lower_case
        with quiet_weight_loading():
            self.model = AutoModel.from_pretrained(str(cfg.transformer), dtype=torch.float32).to(device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None)
        max_len = cfg.max_seq_length or self.tokenizer.model_max_length
        if isinstance(limit, int) and limit > 0:
            max_len = min(max_len, limit)
        self.max_length = int(max_len)
        if chunks == "mean" and not 0 <= self.overlap < self.max_length // 2:
            raise ValueError(f"{spec.name}: overlap={overlap} word pieces; expected 0 to {self.max_length // 2 - 1}")
        hidden = int(self.model.config.hidden_size)
        self.prompt_lengths = {role: self._prompt_length(cfg.prompt(role)) for role in ("query", "document")}
        self.spec = replace(
            spec,
            dim=hidden * (1 if self.modes[0] in LAYER_MODES else len(self.modes)),
            input={
                "max_seq_length": self.max_length,
                "pooling": "+".join(self.modes),
                "normalize": cfg.normalize,
                "do_lower_case": cfg.do_lower_case,
                **({"prompts": cfg.prompts} if cfg.prompts else {}),
                **({"default_prompt_name": cfg.default_prompt_name} if cfg.default_prompt_name else {}),
                **({"include_prompt": False} if not cfg.include_prompt else {}),
                "truncation": "longest_first, word pieces",
                **self._chunk_identity(),
            },
        )
        self._tokenizer_hash = _files_hash(cfg.transformer)

    def _chunk_identity(self) -> dict[str, str]:
        """Recorded only when windows are pooled, so tables of the plain (truncating) encoder keep their identity."""
        if self.chunks != "mean":
            return {}
        return {"chunks": f"mean of windows of {self.max_length} word pieces, overlap {self.overlap}"}

    def _prompt_length(self, prompt: str) -> int:
        """Word pieces of the prompt, special tokens at the start included (sentence-transformers' count)."""
        if not prompt or self.config.include_prompt:
            return 0
        return len(self.tokenizer(prompt)["input_ids"]) - 1

    def _compute_fingerprint(self) -> str:
        """Tensors, tokenizer and input recipe; the tensors' hash is kept per version of the weights' files."""
        import transformers

        from embedforge.modalities.stamps import remembered, stat_key

        folder = self.config.transformer
        key = stat_key((p for p in folder.iterdir() if p.is_file()), "state_dict", transformers.__version__)
        tensors = remembered("fingerprints", key, lambda: state_dict_fingerprint(self.model.state_dict()))
        h = hashlib.sha256(tensors.encode())
        h.update(self._tokenizer_hash.encode())
        h.update(json.dumps(self.spec.input, sort_keys=True).encode())
        h.update(f"recipe={self.spec.recipe}".encode())
        return h.hexdigest()[:12]

    # ------------------------------------------------------------------ input
    def preprocess(self, sample: Any, item_id: str, role: str | None = None) -> dict[str, Any]:
        """Prompt and tokenise one text (truncated at ``max_seq_length`` word pieces)."""
        if not isinstance(sample, (Text, str)):
            raise ItemError(f"{item_id}: expected text (a Text sample), got a {type(sample).__name__}")
        text, sample_role = (sample, "document") if isinstance(sample, str) else (sample.text, sample.role)
        if not text.strip():
            raise ItemError(f"{item_id}: empty text")
        role = role or sample_role
        full = self.config.prompt(role) + text
        if self.lower:
            full = full.lower()
        plen = self.prompt_lengths.get(role, 0)
        if self.chunks == "mean":
            whole = self.tokenizer(full)
            if len(whole["input_ids"]) > self.max_length:  # longer than one window: windows, pooled in encode
                return {"windows": self._windows(full, role), "prompt_length": plen}
        ids = self.tokenizer(_head_words(full, 2 * self.max_length + 8), truncation="longest_first",
                             max_length=self.max_length)  # fmt: skip
        return {"ids": dict(ids), "prompt_length": plen}

    def _windows(self, full: str, role: str) -> list[dict[str, Any]]:
        """Overlapping windows of the text's word pieces, each with the prompt and special tokens as a whole
        input has them: every window is one input the model was trained on, none truncated."""
        tok = self.tokenizer
        prompt = self.config.prompt(role)
        if self.lower:
            prompt = prompt.lower()
        head = tok(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        body = tok(full[len(prompt) :], add_special_tokens=False)["input_ids"]
        before, after = _special_wrap(tok)
        room = self.max_length - len(before) - len(after) - len(head)
        out = []
        for a in window_starts(len(body), room, self.overlap):
            ids = [*before, *head, *body[a : a + room], *after]
            window = {"input_ids": ids, "attention_mask": [1] * len(ids)}
            if "token_type_ids" in tok.model_input_names:
                window["token_type_ids"] = [0] * len(ids)
            out.append(window)
        return out

    def preprocess_query(self, sample: Any, item_id: str) -> dict[str, Any]:
        """The query side (search): the ``query`` prompt where the weights declare one."""
        return self.preprocess(sample, item_id, role="query")

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """``search --text``: sentences embedded as queries."""
        return self.encode([self.preprocess_query(t, f"text {i}") for i, t in enumerate(texts)])

    # ------------------------------------------------------------------ forward
    def encode(self, inputs: list[dict[str, Any]]) -> np.ndarray:
        """Length-sorted batches; a windowed long input (``chunks=mean``) is the mean of its window vectors,
        normalised again where the model normalises."""
        if not any("windows" in x for x in inputs):
            return self._encode_flat(inputs)
        flat, owners = [], []
        for n, x in enumerate(inputs):
            parts = x.get("windows") or [x["ids"]]
            flat += [{"ids": w, "prompt_length": x["prompt_length"]} for w in parts]
            owners += [n] * len(parts)
        vectors = self._encode_flat(flat).astype(np.float64)
        sums = np.zeros((len(inputs), vectors.shape[1]))
        np.add.at(sums, np.asarray(owners), vectors)
        out = sums / np.bincount(owners, minlength=len(inputs))[:, None]
        if self.config.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def _encode_flat(self, inputs: list[dict[str, Any]]) -> np.ndarray:
        import torch

        out = np.zeros((len(inputs), self.spec.dim), np.float32)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]["ids"]["input_ids"]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for plen in sorted({inputs[i]["prompt_length"] for i in chunk}):
                part = [i for i in chunk if inputs[i]["prompt_length"] == plen]
                padded = self.tokenizer.pad([inputs[i]["ids"] for i in part], return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in padded.items()}
                with torch.inference_mode():
                    vectors = self._forward(batch, plen)
                out[part] = vectors.float().cpu().numpy()
        return out

    def _forward(self, batch: dict[str, Any], prompt_length: int):
        import torch

        layers = self.modes[0] in LAYER_MODES
        result = self.model(**batch, output_hidden_states=layers, return_dict=True)
        mask = batch["attention_mask"]
        pool_mask = mask.clone()
        if prompt_length:
            pool_mask[:, :prompt_length] = 0
        if layers:
            hs = result.hidden_states
            pair = (hs[1], hs[-1]) if self.modes[0] == "first-last-mean" else (hs[-2], hs[-1])
            pooled = [_mean((pair[0] + pair[1]) / 2.0, pool_mask)]
        else:
            tokens = result.last_hidden_state
            pooled = [_pool(mode, tokens, pool_mask) for mode in self.modes]
        vectors = torch.cat(pooled, dim=-1)
        if self.config.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors


_WORD = re.compile(r"\S+")


def _head_words(text: str, words: int) -> str:
    """The text up to its ``words``-th word: what a truncating tokeniser reads of a long document, without
    tokenising the rest (a 325 KB text: 147.6 ms whole, 1.4 ms cut). Word pieces never span whitespace and every
    word gives at least one, so twice ``max_length`` words hold more pieces than the truncation keeps: the same ids."""
    if len(text) < 2 * words:  # a word and a space each: too short to hold that many words, nothing to cut
        return text
    for n, match in enumerate(_WORD.finditer(text), 1):
        if n == words:
            return text[: match.end()]
    return text


def _special_wrap(tok) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text ([CLS] / [SEP] for BERT, <s> / </s> ...),
    read off how it encodes one word with and without them."""
    plain = tok("a", add_special_tokens=False)["input_ids"]
    full = tok("a")["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain) :])
    raise ValueError("cannot tell where this tokenizer puts its special tokens; use chunks=truncate")


def _mean(tokens, mask):
    import torch

    m = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


def _pool(mode: str, tokens, mask):
    """sentence-transformers' Pooling modes over right-padded tokens."""
    import torch

    m = mask.unsqueeze(-1).to(tokens.dtype)
    if mode == "cls":
        first = mask.to(torch.int).argmax(dim=1)
        return tokens[torch.arange(len(tokens)), first]
    if mode == "mean":
        return _mean(tokens, mask)
    if mode == "max":
        return tokens.masked_fill(m == 0, float("-inf")).max(dim=1).values
    if mode == "mean_sqrt_len_tokens":
        return (tokens * m).sum(1) / torch.sqrt(torch.clamp(m.sum(1), min=1e-9))
    if mode == "weightedmean":
        w = torch.arange(1, tokens.shape[1] + 1, device=tokens.device, dtype=tokens.dtype).view(1, -1, 1) * m
        return (tokens * w).sum(1) / torch.clamp(w.sum(1), min=1e-9)
    if mode == "lasttoken":
        last = mask.sum(1).to(torch.long) - 1
        return tokens[torch.arange(len(tokens)), last.clamp(min=0)]
    raise ValueError(f"unknown pooling mode {mode!r}")
