"""Tiny random checkpoints written in each model's own on-disk format (built once per session)."""

from __future__ import annotations

import json

import pytest

QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.fixture(scope="session")
def tirex_dir(tmp_path_factory):
    """A Lightning-style ``model.ckpt``: ``hyper_parameters`` + ``state_dict`` (2 blocks, d=16, patch 8)."""
    import torch
    from tirex.models.tirex import TiRexZero

    cfg = {
        "input_patch_size": 8,
        "output_patch_size": 8,
        "quantiles": QUANTILES,
        "input_ff_dim": 32,
        "block_kwargs": {"num_blocks": 2, "embedding_dim": 16, "num_heads": 2, "ffn_proj_factor": 2.6667},
    }
    torch.manual_seed(0)
    model = TiRexZero(backend="torch", model_config=cfg, train_ctx_len=64)
    with torch.no_grad():
        for p in model.parameters():  # sLSTM kernels are torch.empty until loaded
            p.normal_(0.0, 0.2)
    root = tmp_path_factory.mktemp("tirex")
    torch.save(
        {"hyper_parameters": {"model_config": cfg, "train_ctx_len": 64}, "state_dict": model.state_dict()},
        root / "model.ckpt",
    )
    return root


@pytest.fixture(scope="session")
def chronos_dir(tmp_path_factory):
    """``config.json`` (T5 + chronos_config) + ``model.safetensors`` via save_pretrained (2 layers, d=16)."""
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    cfg = T5Config(
        d_model=16,
        d_ff=32,
        num_layers=2,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=8,
        vocab_size=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        architectures=["ChronosBoltModelForForecasting"],
        chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config={
            "context_length": 64,
            "prediction_length": 16,
            "input_patch_size": 8,
            "input_patch_stride": 8,
            "quantiles": QUANTILES,
            "use_reg_token": True,
        },
    )
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("chronos")
    ChronosBoltModelForForecasting(cfg).save_pretrained(root)
    return root


def moment_state(t5_config: dict, d_model: int, patch_len: int, seed: int = 0) -> dict:
    """momentfm's MOMENT state-dict layout, built from transformers' T5 stack and plain tensors."""
    import torch
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5Stack

    torch.manual_seed(seed)
    cfg = T5Config.from_dict(dict(t5_config))
    cfg.is_decoder, cfg.use_cache = False, False
    state = {f"encoder.{k}": v for k, v in T5Stack(cfg).state_dict().items()}
    state["patch_embedding.value_embedding.weight"] = torch.randn(d_model, patch_len) * 0.3
    state["patch_embedding.mask_embedding"] = torch.randn(d_model) * 0.1
    state["head.linear.weight"] = torch.randn(patch_len, d_model) * 0.1
    state["head.linear.bias"] = torch.zeros(patch_len)
    return state


@pytest.fixture(scope="session")
def moment_dir(tmp_path_factory):
    """MOMENTPipeline's hub layout: ``config.json`` with ``t5_config`` inside + ``model.safetensors``."""
    from safetensors.torch import save_file

    t5 = {
        "d_model": 16,
        "d_ff": 32,
        "d_kv": 8,
        "num_heads": 2,
        "num_layers": 3,
        "vocab_size": 32,
        "feed_forward_proj": "gated-gelu",
        "dense_act_fn": "gelu_new",
        "is_gated_act": True,
        "model_type": "t5",
        "layer_norm_epsilon": 1e-6,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "dropout_rate": 0.1,
    }
    config = {
        "task_name": "reconstruction",
        "model_name": "MOMENT",
        "transformer_type": "encoder_only",
        "d_model": None,
        "seq_len": 64,
        "patch_len": 8,
        "patch_stride_len": 8,
        "device": "cpu",
        "transformer_backbone": "google/flan-t5-small",
        "model_kwargs": {},
        "t5_config": t5,
    }
    root = tmp_path_factory.mktemp("moment")
    (root / "config.json").write_text(json.dumps(config))
    state = {k: v.contiguous() for k, v in moment_state(t5, 16, 8).items()}
    save_file(state, str(root / "model.safetensors"), metadata={"format": "pt"})
    return root


@pytest.fixture(scope="session")
def mantis_dir(tmp_path_factory):
    """MantisV1.save_pretrained: ``config.json`` + ``model.safetensors`` (seq_len 64, hidden 16, 1 layer)."""
    import torch
    from mantis.architecture import MantisV1

    torch.manual_seed(0)
    model = MantisV1(
        seq_len=64,
        hidden_dim=16,
        num_patches=8,
        hidden_dim_scalar_enc=8,
        transf_depth=1,
        transf_num_heads=2,
        transf_mlp_dim=32,
        transf_dim_head=8,
        device="cpu",
    )
    root = tmp_path_factory.mktemp("mantis")
    model.save_pretrained(root)
    return root
