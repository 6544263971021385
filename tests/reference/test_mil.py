"""Our MIL heads against the reference repositories' own outputs (golden files made by make_golden.py).

Each golden npz holds a bag, the recipe of the weights the reference ran with (regenerated here and checked
against the SHA-256 of the reference's float32 tensors) and the reference's logits and attention. The
weights go into the model our head builds (names mapped); logits and attention must agree to 1e-5.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.reference.make_golden import ABMIL_CASES, GOLDEN, RRT_CASES, state_digest, synth_state

TOL = 1e-5
RRT_FILES = [GOLDEN / f"{case[0]}.npz" for case in RRT_CASES]
ABMIL_FILES = [GOLDEN / f"{case[0]}.npz" for case in ABMIL_CASES]

# Reference options our port does not expose, at the values it assumes (a change of the reference's defaults
# would show here rather than as a silent mismatch).
RRT_FIXED = {"act": "relu", "attn": "rmsa", "pool": "attn", "n_layers": 2, "ffn": False, "drop_path": 0.0,
             "pos": "none", "da_gated": False, "da_bias": False, "da_dropout": False, "qkv_bias": True,
             "region_size": 0, "min_region_num": 0, "min_region_ratio": 0, "mlp_dim": 512,
             "epeg_bias": True}  # fmt: skip
# reference name -> our mil/r2t option
RRT_OPTIONS = {"region_num": "region_num", "n_heads": "heads", "epeg": "epeg", "epeg_k": "epeg_k", "cr_msa": "cr_msa",
               "crmsa_k": "crmsa_k", "crmsa_heads": "crmsa_heads", "crmsa_mlp": "crmsa_mlp",
               "all_shortcut": "all_shortcut", "da_act": "da_act", "dropout": "dropout"}  # fmt: skip


def load(path: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """(meta, arrays, the reference's state_dict regenerated and proven the same by its digest)."""
    with np.load(path) as golden:
        arrays = {k: golden[k] for k in golden.files}
    meta = json.loads(str(arrays["meta"]))
    state = synth_state(arrays)
    assert state_digest(state) == meta["state_sha256"], f"{path.name}: regenerated weights differ from the reference's"
    return meta, arrays, {k: torch.from_numpy(v) for k, v in state.items()}


def r2t_options(meta: dict) -> dict:
    effective = {**meta["reference_defaults"], **meta["overrides"]}
    for key, value in RRT_FIXED.items():
        assert effective.get(key, value) == value, f"the reference's {key} is {effective[key]!r}, ported as {value!r}"
    return {ours: effective[ref] for ref, ours in RRT_OPTIONS.items()}


def r2t_model(meta: dict, state: dict[str, torch.Tensor], **change):
    from embedforge.modalities.pathology.mil import R2TMIL
    from embedforge.modalities.pathology.rrt import from_reference_state_dict

    model = R2TMIL(**{**r2t_options(meta), **change}).build(meta["input_dim"], meta["n_classes"])
    model.load_state_dict(from_reference_state_dict(state), strict=True)
    return model.eval()


def run(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        logits, attention = model(torch.from_numpy(x))
    return logits.numpy(), attention.reshape(1, -1).numpy()


def max_diff(ours: tuple[np.ndarray, np.ndarray], arrays: dict[str, np.ndarray]) -> tuple[float, float]:
    assert ours[0].shape == arrays["logits"].shape and ours[1].shape == arrays["attention"].shape
    return float(np.abs(ours[0] - arrays["logits"]).max()), float(np.abs(ours[1] - arrays["attention"]).max())


@pytest.mark.parametrize("path", RRT_FILES, ids=lambda p: p.stem)
def test_r2t_matches_the_reference(path):
    meta, arrays, state = load(path)
    assert meta["reference"] == "DearCaat/RRT-MIL" and meta["n_tiles"] == len(arrays["x"])
    d_logits, d_attn = max_diff(run(r2t_model(meta, state), arrays["x"]), arrays)
    assert d_logits <= TOL and d_attn <= TOL, (d_logits, d_attn)


@pytest.mark.parametrize("path", ABMIL_FILES, ids=lambda p: p.stem)
def test_abmil_matches_clam(path):
    from embedforge.modalities.pathology.abmil import from_clam_state_dict
    from embedforge.modalities.pathology.mil import ABMIL

    meta, arrays, state = load(path)
    opts = {**meta["reference_defaults"], **meta["overrides"]}
    assert meta["reference"] == "mahmoodlab/CLAM" and opts["gate"] is True
    model = ABMIL(size=opts["size_arg"], dropout=opts["dropout"]).build(meta["input_dim"], meta["n_classes"])
    model.load_state_dict(from_clam_state_dict(state), strict=True)
    d_logits, d_attn = max_diff(run(model.eval(), arrays["x"]), arrays)
    assert d_logits <= TOL and d_attn <= TOL, (d_logits, d_attn)
    raw = torch.from_numpy(arrays["attention_raw"]).softmax(dim=1).numpy()
    np.testing.assert_allclose(raw, arrays["attention"], atol=1e-7)  # CLAM's attention: softmax of its A_raw


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("rrt_tanh_n100", {"da_act": "relu"}),  # the pooling activation the reference's commands do not use
        ("rrt_c16_r50_n100", {"all_shortcut": False}),
        ("rrt_nsclc_plip_n100", {"crmsa_heads": 8}),
    ],
)
def test_the_golden_files_tell_the_options_apart(case, change):
    meta, arrays, state = load(GOLDEN / f"{case}.npz")
    d_logits, d_attn = max_diff(run(r2t_model(meta, state, **change), arrays["x"]), arrays)
    assert max(d_logits, d_attn) > 1e-3, (case, change, d_logits, d_attn)


@pytest.mark.parametrize("case", ["rrt_region4_n100", "rrt_region12_n300"])
def test_cr_msa_keeps_8_regions_whatever_region_num(case, monkeypatch):
    from embedforge.modalities.pathology import rrt

    meta, arrays, state = load(GOLDEN / f"{case}.npz")
    monkeypatch.setattr(rrt, "CRMSA_REGION_NUM", meta["overrides"]["region_num"])  # CR-MSA following region_num
    d_logits, d_attn = max_diff(run(r2t_model(meta, state), arrays["x"]), arrays)
    assert max(d_logits, d_attn) > 1e-3, (d_logits, d_attn)


def test_golden_files_are_small_and_record_their_commit():
    files = RRT_FILES + ABMIL_FILES
    assert all(p.exists() for p in files), [p.name for p in files if not p.exists()]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    readme = (GOLDEN / "README.md").read_text()
    for key, paths in (("rrt", RRT_FILES), ("abmil", ABMIL_FILES)):
        section = readme[readme.index(f"<!-- {key}:start -->") : readme.index(f"<!-- {key}:end -->")]
        commit = re.search(r"commit `([0-9a-f]{40})`", section)
        assert commit, f"README.md: no commit recorded for {key}"
        for p in paths:
            with np.load(p) as golden:
                meta = json.loads(str(golden["meta"]))
            assert meta["commit"] == commit.group(1) and f"`{p.name}`" in section
            assert all(f["as_committed"] for f in meta["files"].values()), f"{p.name}: made from modified files"
