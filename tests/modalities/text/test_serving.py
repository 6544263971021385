"""A served text head's request column: ``text``, base64 of the UTF-8 text (the RawInput contract's bytes)."""

import base64

import numpy as np
import pandas as pd
import pytest

from embedforge.modalities.base import BadRequest
from embedforge.modalities.text.sample import Text
from embedforge.registry.encoders import build_encoder
from embedforge.tasks.pyfunc import Limits, embed_raw_column


def test_text_column_is_decoded_and_embedded_like_a_document(cls_dir):
    enc = build_encoder("text/st", weights=str(cls_dir))
    meta = {"encoder": enc.identity()}
    limits = Limits(row_bytes=1000, request_bytes=5000, media_seconds=60.0, roots=())
    texts = ["Grüße aus Köln", "Knead the dough"]
    frame = pd.DataFrame({"text": [base64.b64encode(t.encode()).decode() for t in texts]})
    got = embed_raw_column(frame, enc, meta, limits)
    want = enc.encode([enc.preprocess(Text(t), str(i)) for i, t in enumerate(texts)])
    np.testing.assert_allclose(got, want, atol=1e-6)
    bad = pd.DataFrame({"text": [base64.b64encode(b"\xff\xfe\x00").decode()]})
    with pytest.raises(BadRequest, match="row 0"):
        embed_raw_column(bad, enc, meta, limits)
