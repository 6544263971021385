"""Small random sentence-transformers directories written in the library's own layout (built once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_st_dir(
    root: Path,
    pooling: dict,
    normalize: bool = False,
    prompts: dict | None = None,
    max_len: int = 64,
    modules_extra: list | None = None,
    seed: int = 0,
) -> Path:
    """A 2-layer random BERT (hidden 32) with all-MiniLM-L6-v2's tokenizer files, in sentence-transformers' layout."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from embedforge.modalities.text.weights import packaged_dir

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=128,
    )
    root.mkdir(parents=True, exist_ok=True)
    BertModel(config).eval().save_pretrained(root)
    AutoTokenizer.from_pretrained(str(packaged_dir())).save_pretrained(root)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    modules += modules_extra or []
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **pooling}))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_len, "do_lower_case": False}))
    if prompts:
        (root / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return root


@pytest.fixture(scope="session")
def cls_dir(tmp_path_factory) -> Path:
    """CLS pooling, no Normalize, query/document prompts, 64 word pieces."""
    return write_st_dir(
        tmp_path_factory.mktemp("st-cls") / "model",
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False},
        prompts={"query": "query: ", "document": "passage: "},
    )
