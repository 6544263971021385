"""Speech hits drawn as waveforms: search --sheet and analyze's map thumbnails."""

import numpy as np
import soundfile as sf
from PIL import Image

from embedforge.registry.catalog import load_catalog
from embedforge.registry.modalities import modality


def test_speech_sheet_draws_each_hit_and_greys_a_missing_file(tmp_path):
    load_catalog()
    t = np.arange(16000) / 16000
    sf.write(
        tmp_path / "a.wav", (0.5 * np.sin(2 * np.pi * 3 * t) * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000
    )
    hits = [
        {"id": "spk1/a.wav", "uri": str(tmp_path / "a.wav"), "labels": {"speaker": "spk1"}, "_distance": 0.1},
        {"id": "spk2/gone.wav", "uri": str(tmp_path / "gone.wav"), "labels": {"speaker": "spk2"}, "_distance": 0.3},
    ]
    extras = modality("speech").extras
    out = extras["contact_sheet"](hits, tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape[1] == 2 * 164
    wave, grey = sheet[:72, :160], sheet[:72, 164 : 164 + 160]
    blue = (wave[..., 2] > 120) & (wave[..., 0] < 100)
    assert blue.any(axis=0).mean() > 0.9  # an envelope in every column
    assert blue.any(axis=1).sum() > 20  # its amplitude varies: not a flat line
    assert (grey == 90).all()  # the missing file is a grey box, not a failed sheet
    thumb = extras["thumbnail"](hits[0])
    assert thumb.size == (160, 72)
