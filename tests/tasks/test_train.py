"""The serving view of the HeightCeleb head gives what the head gives for one-utterance speakers."""

import numpy as np

from embedforge.modalities.speech.heightceleb import HeightHead
from embedforge.tasks.train import PerRowHeight


def test_per_row_predictions_match_the_head():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 16)).astype(np.float32)
    groups = np.repeat(np.arange(40), 3).astype(str)
    sex = np.where(np.arange(120) % 2, "m", "f")
    height = rng.normal(170, 8, 120) + 5 * X[:, 0]
    head = HeightHead().fit(X, height, sex, groups)
    served = PerRowHeight(head).predict_vectors(X[:9])
    ref = head.predict(X[:9], [f"{i:02d}" for i in range(9)])
    np.testing.assert_allclose(served["height_cm"], ref["height_pred"], rtol=1e-6)
    assert list(served["sex"]) == list(ref["sex_pred"]) and list(served.columns) == ["height_cm", "sex", "sex_prob"]
