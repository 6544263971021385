"""TIMIT layout: NIST SPHERE .WAV files, SPKRINFO.TXT heights in feet'inches" -> cm."""

from __future__ import annotations

import numpy as np
import pytest

from embedforge.modalities.speech.timit import feet_inches_to_cm, read_spkrinfo
from embedforge.registry.datasets import open_dataset

SPKRINFO = """\
; Speaker Information
;
;  ID  Sex DR Use  RecDate    BirthDate  Ht    Race Edu  Comments
;
  CJF0  F  1  TRN  03/03/86  06/17/60   5'4"  WHT  BS
  MPM0  M  1  TRN  04/02/86  11/09/61   6'1"  WHT  BS    comment with words
  DAB0  M  1  TST  02/26/86  02/28/62   5'11" BLK  MS
  ZZZ0  F  2  TRN  02/26/86  02/28/62   ??    WHT  HS
"""


def sphere_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    """A NIST SPHERE file as TIMIT ships it: 1024-byte text header, 16-bit little-endian PCM."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    fields = [
        "NIST_1A",
        "   1024",
        "database_id -s5 TIMIT",
        "database_version -s3 1.0",
        "utterance_id -s8 cjf0_sa1",
        "channel_count -i 1",
        f"sample_count -i {pcm.size}",
        f"sample_rate -i {rate}",
        f"sample_min -i {pcm.min()}",
        f"sample_max -i {pcm.max()}",
        "sample_n_bytes -i 2",
        "sample_byte_format -s2 01",
        "sample_sig_bits -i 16",
        "end_head",
    ]
    header = ("\n".join(fields) + "\n").encode().ljust(1024, b" ")
    return header + pcm.tobytes()


@pytest.fixture()
def timit_root(tmp_path, write_wav):
    rng = np.random.default_rng(0)
    root = tmp_path / "TIMIT"
    for rel in [
        "TRAIN/DR1/FCJF0/SA1.WAV",
        "TRAIN/DR1/FCJF0/SX127.WAV",
        "TRAIN/DR1/MKLS1/SA1.WAV",
        "TEST/DR1/MDAB0/SI1039.WAV",
        "TRAIN/DR2/FZZZ0/SA2.WAV",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sphere_bytes(rng.uniform(-0.3, 0.3, 3200)))
    write_wav("TIMIT/TRAIN/DR1/FCJF0/SA1.WAV.wav", rng.uniform(-0.3, 0.3, 3200))  # converted copy: skipped
    write_wav("TIMIT/TEST/DR1/MDAB0/SX49.WAV", rng.uniform(-0.3, 0.3, 1600))  # RIFF inside a .WAV name
    (root / "DOC").mkdir()
    (root / "DOC" / "SPKRINFO.TXT").write_text(SPKRINFO)
    (root / "TRAIN" / "DR1" / "FCJF0" / "SA1.TXT").write_text("0 46797 She had your dark suit.\n")
    return root


def test_feet_inches_to_cm():
    assert feet_inches_to_cm("5'11\"") == pytest.approx(180.3, abs=0.05)
    assert feet_inches_to_cm("6'0\"") == pytest.approx(182.9, abs=0.05)
    assert np.isnan(feet_inches_to_cm("??"))


def test_read_spkrinfo_skips_comments(tmp_path):
    (tmp_path / "s.txt").write_text(SPKRINFO)
    info = read_spkrinfo(tmp_path / "s.txt")
    assert set(info) == {"CJF0", "MPM0", "DAB0", "ZZZ0"}
    assert info["CJF0"] == {"sex": "f", "height": pytest.approx(162.6, abs=0.05)}
    assert info["ZZZ0"] == {"sex": "f"}


def test_items_labels_splits_and_groups(timit_root):
    ds = open_dataset(f"timit:{timit_root}")
    items = {it.id: it for it in ds.items()}
    assert set(items) == {
        "TRAIN/DR1/FCJF0/SA1.WAV",
        "TRAIN/DR1/FCJF0/SX127.WAV",
        "TRAIN/DR1/MKLS1/SA1.WAV",
        "TRAIN/DR2/FZZZ0/SA2.WAV",
        "TEST/DR1/MDAB0/SI1039.WAV",
        "TEST/DR1/MDAB0/SX49.WAV",
    }
    f = items["TRAIN/DR1/FCJF0/SA1.WAV"]
    assert f.group == "FCJF0" and f.split == "train"
    assert f.labels == {"sex": "f", "height": pytest.approx(162.6, abs=0.05)}
    m = items["TEST/DR1/MDAB0/SI1039.WAV"]
    assert m.split == "test" and m.labels["sex"] == "m" and m.labels["height"] == pytest.approx(180.3, abs=0.05)
    assert items["TRAIN/DR2/FZZZ0/SA2.WAV"].labels == {"sex": "f"}  # height '??' stays unknown
    assert items["TRAIN/DR1/MKLS1/SA1.WAV"].labels == {"sex": "m"}  # not in SPKRINFO: sex from the folder


def test_loads_sphere_and_riff(timit_root):
    ds = open_dataset(f"timit:{timit_root}")
    by_id = {it.id: it for it in ds.items()}
    sphere = ds.load(by_id["TRAIN/DR1/FCJF0/SA1.WAV"])
    raw = np.frombuffer((timit_root / "TRAIN/DR1/FCJF0/SA1.WAV").read_bytes()[1024:], "<i2") / 32768
    assert sphere.sample_rate == 16000 and sphere.waveform.shape == (1, 3200)
    np.testing.assert_allclose(sphere.waveform[0], raw, atol=1e-6)
    riff = ds.load(by_id["TEST/DR1/MDAB0/SX49.WAV"])
    assert riff.waveform.shape == (1, 1600)


def test_lower_case_tree_nested_root(tmp_path):
    root = tmp_path / "timit" / "data"
    spk = root / "test" / "dr3" / "fabc0"
    spk.mkdir(parents=True)
    (spk / "sa1.wav").write_bytes(sphere_bytes(np.zeros(800) + 0.1))
    (root / "doc").mkdir()
    (root / "doc" / "spkrinfo.txt").write_text("; c\n  ABC0  F  3  TST  x  y  5'6\"  WHT  BS\n")
    (item,) = open_dataset(f"timit:{tmp_path / 'timit'}").items()
    assert item.id == "test/dr3/fabc0/sa1.wav" and item.group == "FABC0" and item.split == "test"
    assert item.labels == {"sex": "f", "height": pytest.approx(167.6, abs=0.05)}


def test_no_timit_layout_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="TIMIT layout"):
        open_dataset(f"timit:{tmp_path}")
