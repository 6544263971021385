"""The ``ucr`` adapter on aeon's shipped sets, a copied .ts folder and the archive's .tsv layout."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import ItemError, Series, array_sha256
from embedforge.registry.datasets import open_dataset


def test_shipped_set_by_name():
    ds = open_dataset("ucr:GunPoint")
    items = ds.items()
    train = [it for it in items if it.split == "train"]
    assert len(items) == 200 and len(train) == 50
    assert items[0].id == "train/0" and items[50].id == "test/0"
    assert {it.labels["label"] for it in items} == {"1", "2"}
    x = ds.load(items[50])
    assert isinstance(x, Series) and x.values.shape == (1, 150) and x.values.dtype == np.float32
    assert items[50].content_hash == array_sha256(x.values)
    assert len({it.id for it in items}) == 200


def test_ts_folder_gives_the_same_items(tmp_path):
    import aeon.datasets

    src = Path(aeon.datasets.__file__).parent / "data" / "ItalyPowerDemand"
    dst = tmp_path / "ItalyPowerDemand"
    dst.mkdir()
    for split in ("TRAIN", "TEST"):
        shutil.copy(src / f"ItalyPowerDemand_{split}.ts", dst)
    by_name, by_path = open_dataset("ucr:ItalyPowerDemand").items(), open_dataset(f"ucr:{dst}").items()
    assert [(i.id, i.content_hash, i.labels) for i in by_name] == [(i.id, i.content_hash, i.labels) for i in by_path]


def test_tsv_folder_variable_length_with_nan_padding(tmp_path):
    root = tmp_path / "Toy"
    root.mkdir()
    (root / "Toy_TRAIN.tsv").write_text("1\t0.5\t1.5\t2.5\n2\t3.0\t4.0\tNaN\n")
    (root / "Toy_TEST.tsv").write_text("1.0\t1\t2\t3\n")
    ds = open_dataset(f"ucr:{root}")
    items = ds.items()
    assert [(i.id, i.split, i.labels["label"]) for i in items] == [
        ("train/0", "train", "1"),
        ("train/1", "train", "2"),
        ("test/0", "test", "1"),
    ]
    padded = ds.load(items[1]).values
    assert padded.shape == (1, 3) and np.isnan(padded[0, 2]) and padded[0, 1] == 4.0


def test_multivariate_unequal_length_set():
    ds = open_dataset("ucr:JapaneseVowels")
    items = ds.items()
    lengths = {ds.load(it).values.shape for it in items[:40]}
    assert all(c == 12 for c, _ in lengths) and len({t for _, t in lengths}) > 1


def test_missing_folder_and_unknown_item_are_clear(tmp_path):
    (tmp_path / "Nope").mkdir()
    with pytest.raises(FileNotFoundError, match="Nope_TRAIN"):
        open_dataset(f"ucr:{tmp_path / 'Nope'}").items()
    ds = open_dataset("ucr:GunPoint")
    with pytest.raises(ItemError, match="train/999"):
        ds.load(ds.items()[0].__class__("train/999", "", ""))
