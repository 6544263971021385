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
    m = modality("speech")
    out = m.contact_sheet(hits, tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape[1] == 2 * 164
    wave, grey = sheet[:72, :160], sheet[:72, 164 : 164 + 160]
    blue = (wave[..., 2] > 120) & (wave[..., 0] < 100)
    assert blue.any(axis=0).mean() > 0.9  # an envelope in every column
    assert blue.any(axis=1).sum() > 20  # its amplitude varies: not a flat line
    assert (grey == 90).all()  # the missing file is a grey box, not a failed sheet
    thumb = m.thumbnail(hits[0])
    assert thumb.size == (160, 72)


def test_timeseries_hits_are_drawn_as_line_plots_from_their_adapter_or_file(tmp_path):
    load_catalog()
    np.save(tmp_path / "q.npy", np.stack([np.sin(np.linspace(0, 6, 300)), np.cos(np.linspace(0, 6, 300))]))
    hits = [
        {"id": "train/0", "uri": "ucr:GunPoint#train/0", "labels": {"label": "1"}, "_distance": 0.0},
        {"id": "q.npy", "uri": str(tmp_path / "q.npy"), "labels": {}, "_distance": 0.2},
        {"id": "train/99999", "uri": "ucr:GunPoint#train/99999", "labels": {}, "_distance": 0.4},
    ]
    m = modality("timeseries")
    sheet = np.asarray(Image.open(m.contact_sheet(hits, tmp_path / "sheet.png")).convert("RGB"))
    gun, two, gone = sheet[:72, :160], sheet[:72, 164:324], sheet[:72, 328:488]
    blue = (gun[..., 2] > 120) & (gun[..., 0] < 100)
    assert blue.any(axis=0).mean() > 0.9 and blue.any(axis=1).sum() > 20  # GunPoint's curve, read back by aeon
    orange = (two[..., 0] > 150) & (two[..., 2] < 100)
    assert orange.any(axis=0).mean() > 0.9  # the second channel has its own line
    assert (gone == 90).all()  # no such item: a grey box, the sheet still drawn
    assert m.thumbnail(hits[0]).size == (160, 72)


def test_the_query_comes_first_framed_in_red_and_the_hits_keep_their_ranks(tmp_path):
    from embedforge.modalities.sheets import numbered

    load_catalog()
    np.save(tmp_path / "q.npy", np.sin(np.linspace(0, 6, 300)))
    query = {"id": "q.npy", "uri": str(tmp_path / "q.npy"), "labels": {}, "query": True}
    hit = {"id": "train/0", "uri": "ucr:GunPoint#train/0", "labels": {"label": "1"}, "_distance": 0.25}
    assert [p for p, _ in numbered([query, hit, hit])] == ["QUERY", "1.", "2."]
    out = modality("timeseries").contact_sheet([query, hit], tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert (sheet[0, :160] == (210, 30, 30)).all() and (sheet[:72, 159] == (210, 30, 30)).all()
    assert not (sheet[0, 164:324] == (210, 30, 30)).all(axis=1).any()  # a hit is not framed
