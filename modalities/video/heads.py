"""Video heads: CLIP zero-shot from class names (no training), attention pooling over stored frame vectors.

- ``zero-shot``: class names from folder names (CamelCase split into words), a prompt ensemble embedded by the
  text tower of the same CLIP weights; the fitted head keeps only the class text vectors (no encoder inside).
- ``video/attention-pool``: a learned softmax attention over the K frame vectors of a ``pooling=frames``
  table, then a linear classifier (attention-based pooling as in temporal heads on frozen frame features).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from embedforge.modalities.base import TextTower
from embedforge.registry.heads import HEADS

PROMPTS = (
    "a video of a person {}.",
    "a photo of a person doing {}.",
    "a video of a person doing {}.",
    "an example of a person {}.",
    "a demonstration of a person {}.",
    "a video of {}.",
)


def class_words(name: str) -> str:
    """``ApplyEyeMakeup`` -> ``apply eye makeup``; ``brush_hair`` -> ``brush hair``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return re.sub(r"[_\-\s]+", " ", spaced).strip().lower()


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ZeroShotHead:
    """Nearest class prompt-ensemble in CLIP space; ``fit`` only reads the class names."""

    def __init__(
        self,
        encoder: str = "video/clip-vit-b-32",
        weights: str | None = None,
        prompts: tuple[str, ...] = PROMPTS,
        classes: list[str] | None = None,
        scale: float = 100.0,
    ) -> None:
        self.encoder, self.weights, self.prompts, self.classes, self.scale = encoder, weights, prompts, classes, scale

    def fit(self, X: Any = None, y: Any = None) -> ZeroShotHead:
        """Embed the prompt ensemble of each class name (from ``classes`` or the labels seen in ``y``)."""
        names = list(self.classes) if self.classes else sorted({str(v) for v in y})
        self.classes_ = np.asarray(names)
        self.class_vectors_ = self.text_vectors(names)
        return self

    def text_vectors(self, names: list[str]) -> np.ndarray:
        """One unit vector per class: the mean of its prompts' unit text vectors, re-normalised."""
        from embedforge.registry.cache import cached_encoder

        model = cached_encoder(self.encoder, self.weights, "cpu")
        if not isinstance(model, TextTower):
            raise ValueError(f"{self.encoder} has no text tower: zero-shot needs a CLIP encoder")
        out = []
        for name in names:
            t = model.encode_text([p.format(class_words(name)) for p in self.prompts]).mean(axis=0)
            out.append(t / max(float(np.linalg.norm(t)), 1e-12))
        return np.stack(out).astype(np.float32)

    def with_labels(self, labels: list[str]) -> ZeroShotHead:
        """The same head over other candidate labels (a served zero-shot model takes them in the request)."""
        if not labels:
            raise ValueError("zero-shot needs at least one candidate label")
        classes = [str(v) for v in labels]
        return ZeroShotHead(self.encoder, self.weights, self.prompts, classes, self.scale).fit()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        return _softmax(self.scale * X @ self.class_vectors_.T)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class AttentionPoolHead:
    """Softmax attention over the frames of each clip, then a linear layer; full-batch AdamW."""

    def __init__(
        self, frames: int = 8, hidden: int = 128, epochs: int = 300, lr: float = 3e-3, weight_decay: float = 1e-2
    ) -> None:
        self.frames, self.hidden, self.epochs, self.lr, self.weight_decay = frames, hidden, epochs, lr, weight_decay

    def _frames(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if X.shape[1] % self.frames:
            raise ValueError(f"vectors of {X.shape[1]} values do not split into {self.frames} frames")
        d = X.shape[1] // self.frames
        return np.ascontiguousarray(X.reshape(len(X), self.frames, d) * np.float32(np.sqrt(d)))

    def fit(self, X: np.ndarray, y: Any) -> AttentionPoolHead:
        """Train in torch; keep the weights as numpy arrays, so the fitted head pickles without torch modules."""
        import torch

        torch.manual_seed(0)
        self.classes_, target = np.unique(np.asarray(y).astype(str), return_inverse=True)
        x, t = torch.from_numpy(self._frames(X)), torch.from_numpy(target.astype(np.int64))
        score = torch.nn.Sequential(
            torch.nn.Linear(x.shape[2], self.hidden), torch.nn.Tanh(), torch.nn.Linear(self.hidden, 1)
        )
        out = torch.nn.Linear(x.shape[2], len(self.classes_))
        params = [*score.parameters(), *out.parameters()]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            opt.zero_grad()
            a = torch.softmax(score(x), dim=1)
            torch.nn.functional.cross_entropy(out((a * x).sum(dim=1)), t).backward()
            opt.step()
        self.weights_ = [p.detach().numpy().copy() for p in params]
        return self

    def attention(self, X: np.ndarray) -> np.ndarray:
        """(n, K) frame weights: which frames the head looks at."""
        w1, b1, w2, b2 = self.weights_[:4]
        h = self._frames(X)
        s = (np.tanh(h @ w1.T + b1) @ w2.T + b2)[..., 0]
        return _softmax(s)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        wo, bo = self.weights_[4:]
        pooled = (self.attention(X)[..., None] * self._frames(X)).sum(axis=1)
        return _softmax(pooled @ wo.T + bo)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


HEADS.register("zero-shot", ZeroShotHead)
HEADS.register("video/attention-pool", AttentionPoolHead)
