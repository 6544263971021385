"""Gated attention MIL (Ilse et al. 2018) with CLAM's sizes: fc 512 + ReLU + dropout 0.25, attention hidden 256."""

from __future__ import annotations

import torch
from torch import nn


class GatedABMIL(nn.Module):
    """Bag (N, d) -> logits (1, C) and attention (1, N): tanh(V h) * sigmoid(U h) -> w, softmax over tiles."""

    def __init__(self, dim: int, n_classes: int, hidden: int = 512, attn_hidden: int = 256, dropout: float = 0.25):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.attention_a = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh(), nn.Dropout(dropout))
        self.attention_b = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Sigmoid(), nn.Dropout(dropout))
        self.attention_c = nn.Linear(attn_hidden, 1)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(x.reshape(-1, x.shape[-1]))
        a = self.attention_c(self.attention_a(h) * self.attention_b(h)).T.softmax(dim=-1)
        return self.classifier(a @ h), a
