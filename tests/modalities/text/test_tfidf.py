"""text/tfidf-svd: fit on the train split of the dataset given as weights, identity from fit and data."""

from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.text.examples import datasets
from embedforge.modalities.text.sample import Text
from embedforge.registry.encoders import build_encoder


@pytest.fixture
def refs(tmp_path):
    return datasets(str(tmp_path))


def test_fit_on_train_split(refs):
    enc = build_encoder("text/tfidf-svd", weights=refs["textfolder"])
    ident = enc.identity()
    assert ident["weights"] == f"fit:{refs['textfolder']}#train" and ident["dim"] == 256
    assert "fit" in ident["input"] and ident["input"]["components_fitted"] == 8  # 8 train docs: rank 8
    texts = ["bake bread", "win the final", "a high temperature"]
    v = enc.encode([enc.preprocess(Text(t), str(i)) for i, t in enumerate(texts)])
    assert v.shape == (3, 256) and v.dtype == np.float32 and np.all(v[:, 8:] == 0)
    same = build_encoder("text/tfidf-svd", weights=refs["textfolder"])
    assert same.fingerprint == enc.fingerprint


def test_other_training_data_is_another_identity(refs, tmp_path):
    enc = build_encoder("text/tfidf-svd", weights=refs["textfolder"])
    root = refs["textfolder"].split(":", 1)[1]
    train_file = sorted(Path(root).rglob("*.txt"))[1]
    train_file.write_text("an edited training document about sailing boats")
    changed = build_encoder("text/tfidf-svd", weights=refs["textfolder"])
    assert changed.fingerprint != enc.fingerprint
    assert build_encoder("text/tfidf-svd", weights=refs["csv"]).fingerprint != enc.fingerprint


def test_needs_a_dataset():
    with pytest.raises(ValueError, match="no pre-trained weights"):
        build_encoder("text/tfidf-svd")


def test_a_text_with_no_fitted_word_fails_instead_of_a_zero_vector(refs):
    """A zero vector would rank every document alike (an arbitrary answer): the item fails, naming why."""
    from embedforge.modalities.base import ItemError
    from embedforge.modalities.text.sample import Text

    enc = build_encoder("text/tfidf-svd", weights=refs["textfolder"])
    assert np.linalg.norm(enc.encode([enc.preprocess(Text("bread in the oven"), "q")])[0]) == pytest.approx(1.0)
    with pytest.raises(ItemError, match="q2: no word of the vocabulary fitted on fit:textfolder:"):
        enc.preprocess(Text("zyxwv qqqq"), "q2")
