"""Gated attention MIL (Ilse et al. 2018) as CLAM's AB-MIL baseline (mahmoodlab/CLAM, models/model_clam.py).

CLAM's ``CLAM_SB`` with the instance-clustering loss off (``--no_inst_cluster``) is gated AB-MIL: fc
Linear(d->512)+ReLU+Dropout(p), ``Attn_Net_Gated`` (tanh branch and sigmoid branch Linear(512->256), each
followed by Dropout(0.25) whenever p is non-zero, product -> Linear(256->1)), softmax over the tiles, the
attention-weighted sum -> Linear(512->C). Every Linear has a bias; PyTorch's default init (CLAM defines an
``initialize_weights`` but does not call it). ``size="big"`` is CLAM's 512/384. Checked against CLAM's own
outputs by the golden files of tests/reference/.
"""

from __future__ import annotations

import torch
from torch import nn

SIZES = {"small": (512, 256), "big": (512, 384)}  # CLAM's size_dict, less the input dimension


class GatedABMIL(nn.Module):
    """Bag (N, d) -> logits (1, C) and attention (1, N): tanh(V h) * sigmoid(U h) -> w, softmax over tiles."""

    def __init__(self, dim: int, n_classes: int, hidden: int = 512, attn_hidden: int = 256, dropout: float = 0.25):
        super().__init__()
        attn_drop = 0.25 if dropout else 0.0  # CLAM's Attn_Net_Gated: a fixed 0.25 whenever dropout is on
        self.fc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.attention_a = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh(), nn.Dropout(attn_drop))
        self.attention_b = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Sigmoid(), nn.Dropout(attn_drop))
        self.attention_c = nn.Linear(attn_hidden, 1)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(x.reshape(-1, x.shape[-1]))
        a = self.attention_c(self.attention_a(h) * self.attention_b(h)).T.softmax(dim=-1)
        return self.classifier(a @ h), a


def from_clam_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state_dict of CLAM's ``CLAM_SB`` under this module's names; its instance classifiers (the clustering
    branch, unused by the bag prediction) are left out. ``attention_net.0`` is ``fc.0``, ``attention_net.3.*``
    the gated attention, ``classifiers`` the bag classifier."""
    renames = (("attention_net.0.", "fc.0."), ("attention_net.3.", ""), ("classifiers.", "classifier."))
    out = {}
    for name, value in state.items():
        if name.startswith("instance_classifiers."):
            continue
        for old, new in renames:
            if name.startswith(old):
                name = new + name[len(old) :]
                break
        else:
            raise ValueError(f"{name}: not a CLAM_SB (single-branch, gated) parameter")
        out[name] = value
    return out
