"""VoxCeleb1 layout joined with the real HeightCeleb table (read in place)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from embedforge.modalities.base import Audio, ItemError, file_sha256
from embedforge.modalities.speech.voxceleb import read_heightceleb
from embedforge.registry.datasets import open_dataset


@pytest.fixture()
def table_rows(heightceleb_csv):
    with open(heightceleb_csv, newline="") as f:
        return {r["VoxCeleb1 ID"]: r for r in csv.DictReader(f)}


@pytest.fixture()
def vox_tree(tmp_path, table_rows, write_wav):
    """A tiny tree: a TRAIN male, a TEST female (real ids from the table) and an unknown speaker."""
    male = next(k for k, r in table_rows.items() if r["sex"] == "M" and r["split"] == "TRAIN")
    female = next(k for k, r in table_rows.items() if r["sex"] == "F" and r["split"] == "TEST")
    unknown = next(f"id{n}" for n in range(99999, 0, -1) if f"id{n}" not in table_rows)
    rng = np.random.default_rng(0)
    for spk, video in [(male, "1zcIwhmdeo4"), (male, "7gWzIy6yIIk"), (female, "Zt3NJ4PZtiA"), (unknown, "abc")]:
        write_wav(f"vox/wav/{spk}/{video}/00001.wav", rng.normal(0, 0.1, 8000))
    return tmp_path / "vox", male, female, unknown


def test_items_join_heightceleb_labels(vox_tree, table_rows, heightceleb_csv):
    root, male, female, unknown = vox_tree
    ds = open_dataset(f"voxceleb:{root}", heightceleb=str(heightceleb_csv))
    items = {it.id: it for it in ds.items()}
    assert set(items) == {
        f"{male}/1zcIwhmdeo4/00001.wav",
        f"{male}/7gWzIy6yIIk/00001.wav",
        f"{female}/Zt3NJ4PZtiA/00001.wav",
        f"{unknown}/abc/00001.wav",
    }
    m = items[f"{male}/1zcIwhmdeo4/00001.wav"]
    assert m.group == male and m.split == "train"
    assert m.labels == {"height": float(table_rows[male]["height"]), "sex": "m"}
    f = items[f"{female}/Zt3NJ4PZtiA/00001.wav"]
    assert f.split == "test" and f.labels == {"height": float(table_rows[female]["height"]), "sex": "f"}
    u = items[f"{unknown}/abc/00001.wav"]
    assert u.labels == {} and u.split is None and u.group == unknown
    assert m.content_hash == file_sha256(m.uri)


def test_root_may_be_the_folder_of_speaker_dirs(vox_tree, heightceleb_csv):
    root, _male, _, _ = vox_tree
    ids = sorted(it.id for it in open_dataset(f"voxceleb:{root / 'wav'}", heightceleb=str(heightceleb_csv)).items())
    assert ids == sorted(it.id for it in open_dataset(f"voxceleb:{root}", heightceleb=str(heightceleb_csv)).items())
    assert ids[0].split("/")[0].startswith("id")


def test_load_returns_audio_and_names_bad_files(vox_tree, heightceleb_csv):
    root, male, _, _ = vox_tree
    ds = open_dataset(f"voxceleb:{root}", heightceleb=str(heightceleb_csv))
    item = next(it for it in ds.items() if it.group == male)
    audio = ds.load(item)
    assert isinstance(audio, Audio) and audio.waveform.shape == (1, 8000) and audio.sample_rate == 16000
    open(item.uri, "wb").close()
    with pytest.raises(ItemError, match=item.id):
        ds.load(item)


def test_table_parsing(heightceleb_csv, table_rows):
    table = read_heightceleb(heightceleb_csv)
    assert len(table) == len(table_rows)
    assert {v["split"] for v in table.values()} == {"train", "test"}
    assert {v["labels"]["sex"] for v in table.values()} == {"m", "f"}


def test_missing_values_and_no_table(tmp_path, write_wav):
    (tmp_path / "t.csv").write_text("VoxCeleb1 ID,height,sex,split\nid10001,,M,TRAIN\nid10002,170,?,TEST\n")
    table = read_heightceleb(tmp_path / "t.csv")
    assert table["id10001"] == {"labels": {"sex": "m"}, "split": "train"}
    assert table["id10002"] == {"labels": {"height": 170.0}, "split": "test"}
    write_wav("d/id10001/v/1.wav", np.zeros(160))
    items = open_dataset(f"voxceleb:{tmp_path / 'd'}", heightceleb="none").items()
    assert [(it.labels, it.split) for it in items] == [({}, None)]


def test_bad_table_and_bad_root_are_clear_errors(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a HeightCeleb table"):
        read_heightceleb(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="heightceleb=<local csv path>"):
        read_heightceleb(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="no idXXXXX speaker folders"):
        open_dataset(f"voxceleb:{tmp_path}", heightceleb="none")
