"""The toy plugin's served head: a kind classifier and a size regressor over toy/stats vectors."""

from __future__ import annotations

import numpy as np


class KindAndSize:
    """Fitted heads in, one (kind, size) prediction per vector out: what a served toy model answers."""

    def __init__(self, kind_head, size_head) -> None:
        self.kind_head, self.size_head = kind_head, size_head

    def predict_vectors(self, X: np.ndarray):
        import pandas as pd

        X = np.asarray(X, dtype=np.float32)
        kind = np.asarray(self.kind_head.predict(X)).astype(str)
        size = np.ravel(self.size_head.predict(X)).astype(np.float64)
        return pd.DataFrame({"kind": kind, "size": size})
