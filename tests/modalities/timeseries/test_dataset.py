"""The ``ucr`` adapter on aeon's shipped sets, a copied .ts folder and the archive's .tsv layout."""

import re
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


@pytest.mark.parametrize("name", ["GunPoint", "JapaneseVowels", "BasicMotions", "Covid3Month"])
def test_ts_reader_matches_aeon_on_shipped_sets(name):
    from aeon.datasets import load_from_ts_file

    from embedforge.modalities.timeseries.dataset import _aeon_data_dir, _label, read_ts

    for split in ("TRAIN", "TEST"):
        path = _aeon_data_dir() / name / f"{name}_{split}.ts"
        X, y = load_from_ts_file(str(path))
        cases = read_ts(path)
        assert [c.label for c in cases] == [_label(str(v)) for v in y]
        for x, case in zip(X, cases, strict=True):
            np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), case.values)


def test_shipped_sets_are_found_where_aeon_keeps_them_without_importing_aeon_datasets():
    import subprocess
    import sys

    import aeon.datasets

    from embedforge.modalities.timeseries.dataset import _aeon_data_dir

    assert _aeon_data_dir() == Path(aeon.datasets.__file__).parent / "data"
    check = (
        "import sys; from embedforge.registry.datasets import open_dataset; "
        "print(len(open_dataset('ucr:GunPoint').items()), 'aeon.datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["200", "False"]


HEADER = "@problemName Bad\n@timeStamps false\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"


def test_bad_ts_cases_and_unusable_files_are_recorded_failures_and_good_series_stored(tmp_path):
    from embedforge.tasks.embed import embed_shard, plan_embedding
    from embedforge.tasks.store import VectorStore

    root = tmp_path / "Bad"
    root.mkdir()
    (root / "Bad_TRAIN.ts").write_text(
        HEADER + "1,2,3,4:5,6,7,8:a\n1,2,3,4:b\n1,2,x,4:5,6,7,8:a\n2,3,4,5:6,7,8,9:b\n"
    )  # line 8: one dimension of two; line 9: a text cell
    (root / "Bad_TEST.ts").write_text("")  # empty: the whole split is one failure
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(dataset=f"ucr:{root}", encoder="test/tiny", db_uri=db, work_dir=work, dataset_name="bad")
    results = [embed_shard(shard_path=p, encoder="test/tiny", db_uri=db) for p in plan.shards]
    assert sum(r.embedded for r in results) == 2
    errors = {f["id"]: f["error"] for f in VectorStore(db).failures(plan.table, "bad")}
    assert set(errors) == {"train/1", "train/2", "test/Bad_TEST"}
    assert "Bad_TRAIN.ts line 8: 1 dimensions, expected 2" in errors["train/1"]
    assert "Bad_TRAIN.ts line 9: not a number" in errors["train/2"]
    assert "Bad_TEST.ts" in errors["test/Bad_TEST"] and "empty" in errors["test/Bad_TEST"]


def test_a_missing_test_file_is_a_recorded_failure_and_the_train_split_is_embedded(tmp_path):
    from embedforge.tasks.embed import embed_shard, plan_embedding
    from embedforge.tasks.store import VectorStore

    root = tmp_path / "Half"
    root.mkdir()
    (root / "Half_TRAIN.tsv").write_text("1\t0.5\t1.5\t2.5\n2\t1.0\t0.0\t1.0\n")
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(dataset=f"ucr:{root}", encoder="test/tiny", db_uri=db, work_dir=work, dataset_name="half")
    results = [embed_shard(shard_path=p, encoder="test/tiny", db_uri=db) for p in plan.shards]
    assert sum(r.embedded for r in results) == 2
    errors = {f["id"]: f["error"] for f in VectorStore(db).failures(plan.table, "half")}
    assert list(errors) == ["test/Half_TEST"] and "no Half_TEST.ts or Half_TEST.tsv in" in errors["test/Half_TEST"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("@problemName X\n@univariate true\n1,2,3:a\n", "malformed .ts header"),
        ("@problemName X\n@univariate true\n@classLabel true a\n", "no @data line"),
        ("@problemName X\n@classLabel true a\n@data\n", "no series after @data"),
        ("\n\n", "empty .ts file"),
    ],
)
def test_unusable_ts_file_is_one_item_failing_with_the_reason(tmp_path, text, why):
    root = tmp_path / "X"
    root.mkdir()
    (root / "X_TRAIN.ts").write_text(text)
    (root / "X_TEST.tsv").write_text("1\t0.5\t1.5\n")
    ds = open_dataset(f"ucr:{root}")
    items = {it.id: it for it in ds.items()}
    assert set(items) == {"train/X_TRAIN", "test/0"}
    with pytest.raises(ItemError, match=re.escape(why)):
        ds.load(items["train/X_TRAIN"])
    assert ds.load(items["test/0"]).values.shape == (1, 2)


def test_a_series_of_one_step_is_refused_with_the_reason(tmp_path):
    root = tmp_path / "One"
    root.mkdir()
    (root / "One_TRAIN.tsv").write_text("1\t0.5\n2\t1.0\t2.0\n")
    (root / "One_TEST.tsv").write_text("1\t0.5\tNaN\tNaN\n")
    ds = open_dataset(f"ucr:{root}")
    items = {it.id: it for it in ds.items()}
    with pytest.raises(ItemError, match=r"train/0 .*One_TRAIN\.tsv:1\): a series of 1 step"):
        ds.load(items["train/0"])
    with pytest.raises(ItemError, match="a series of 1 step"):
        ds.load(items["test/0"])
    assert ds.load(items["train/1"]).values.shape == (1, 2)
