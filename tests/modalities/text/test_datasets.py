"""textfolder, csv and jsonl adapters: items, splits, labels, hashes; bad rows and files fail alone at load."""

import hashlib
import json

import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.text.datasets import stratified_split
from embedforge.registry.datasets import open_dataset


def _tree(root, split_dirs=False):
    for i in range(10):
        cls = "pos" if i % 2 else "neg"
        folder = root / (("test" if i >= 8 else "train") if split_dirs else "") / cls
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"d{i}.txt").write_text(f"document {i} is {cls}", encoding="utf-8")
    return root


def test_textfolder_stratified_seeded_split(tmp_path):
    ds = open_dataset(f"textfolder:{_tree(tmp_path / 't')}")
    items = ds.items()
    assert len(items) == 10 and {it.labels["label"] for it in items} == {"pos", "neg"}
    for cls in ("pos", "neg"):
        splits = [it.split for it in items if it.labels["label"] == cls]
        assert splits.count("test") == 2 and splits.count("train") == 3  # round(0.3 * 5) per class
    assert [it.split for it in open_dataset(f"textfolder:{tmp_path / 't'}").items()] == [it.split for it in items]
    item = items[0]
    assert item.content_hash == hashlib.sha256((tmp_path / "t" / item.id).read_bytes()).hexdigest()
    assert ds.load(item).text.startswith("document")


def test_textfolder_split_subfolders(tmp_path):
    items = open_dataset(f"textfolder:{_tree(tmp_path / 't', split_dirs=True)}").items()
    assert {it.id.split("/")[0] for it in items if it.split == "test"} == {"test"}
    assert sum(it.split == "test" for it in items) == 2 and sum(it.split == "train" for it in items) == 8


def test_textfolder_bad_files_fail_alone_naming_the_file(tmp_path):
    root = _tree(tmp_path / "t")
    (root / "pos" / "empty.txt").write_text("")
    (root / "pos" / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "neg" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "neg" / "huge.txt").write_bytes(b"x" * 2000)
    ds = open_dataset(f"textfolder:{root}", limit=1000)
    by_id = {it.id: it for it in ds.items()}
    for name, why in (
        ("pos/empty.txt", "empty"),
        ("pos/photo.txt", "binary"),
        ("neg/latin1.txt", "UTF-8"),
        ("neg/huge.txt", "limit"),
    ):
        with pytest.raises(ItemError, match=rf"{name}.*{why}"):
            ds.load(by_id[name])
    assert ds.load(by_id["pos/d1.txt"]).text == "document 1 is pos"


def test_csv_defaults_and_options(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('id,text,label,split\na,"good, with a comma",1,train\nb,bad,0,dev\na,dup,1,train\nc,,0,test\n')
    ds = open_dataset(f"csv:{path}")
    by_id = {it.id: it for it in ds.items()}
    assert by_id["a"].split == "train" and by_id["b"].split == "val" and by_id["a"].labels == {"label": "1"}
    assert by_id["a"].content_hash == hashlib.sha256(b"good, with a comma").hexdigest()
    assert ds.load(by_id["a"]).text == "good, with a comma"
    with pytest.raises(ItemError, match="duplicate id"):
        ds.load(by_id["a#line4"])
    with pytest.raises(ItemError, match=r"c .*empty"):
        ds.load(by_id["c"])

    other = tmp_path / "o.csv"
    other.write_text("review,stars\nloved it,5\nhated it,1\nfine,3\nawful,1\ngreat,5\n")
    ds = open_dataset(f"csv:{other}", text="review", label="stars")
    items = ds.items()
    assert [it.id for it in items] == ["2", "3", "4", "5", "6"]  # line numbers when there is no id column
    assert all(it.split in ("train", "test") for it in items) and ds.load(items[0]).text == "loved it"


def test_jsonl_bad_lines_are_items_that_fail(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"doc": "k1", "body": "first", "y": "a"}, {"doc": "k2", "body": 7, "y": "b"}]
    path.write_text(json.dumps(rows[0]) + "\n{not json\n" + json.dumps(rows[1]) + "\n[1, 2]\n")
    ds = open_dataset(f"jsonl:{path}", text="body", label="y", id="doc")
    by_id = {it.id: it for it in ds.items()}
    assert set(by_id) == {"k1", "line2", "k2", "line4"}
    assert ds.load(by_id["k1"]).text == "first"
    for key, why in (("line2", "line 2: not a JSON object"), ("k2", "'body' is a int"), ("line4", "not an object")):
        with pytest.raises(ItemError, match=why):
            ds.load(by_id[key])


def test_stratified_split_is_seeded_and_per_label():
    labels = {f"i{i}": i % 3 for i in range(30)}
    a, b = stratified_split(labels, 0.2, seed=1), stratified_split(labels, 0.2, seed=1)
    assert a == b and sum(v == "test" for v in a.values()) == 6
    assert stratified_split(labels, 0.2, seed=2) != a


def test_parquet_reads_the_named_columns_and_bad_rows_fail_alone(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    rows = [
        {"doc": "k1", "body": "first", "y": 1, "part": "train", "emb": [0.1, 0.2]},
        {"doc": "k2", "body": None, "y": 0, "part": "test", "emb": [0.3, 0.4]},
        {"doc": "k1", "body": "again", "y": 1, "part": "train", "emb": [0.5, 0.6]},
        {"doc": "k3", "body": "third", "y": 0, "part": "holdout", "emb": [0.7, 0.8]},
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    ds = open_dataset(f"parquet:{path}", text="body", label="y", id="doc", split="part")
    by_id = {it.id: it for it in ds.items()}
    assert set(by_id) == {"k1", "k2", "k1#row3", "k3"}
    assert by_id["k1"].labels == {"label": 1} and by_id["k1"].split == "train" and by_id["k2"].split == "test"
    assert ds.load(by_id["k1"]).text == "first"
    for key, why in (("k2", "row 2: 'body' is a NoneType"), ("k1#row3", "row 3: duplicate id"), ("k3", "holdout")):
        with pytest.raises(ItemError, match=why):
            ds.load(by_id[key])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"broken\.parquet: not readable Parquet"):
        open_dataset(f"parquet:{broken}").items()
    with pytest.raises(ValueError, match=r"no column 'review' \(its columns: body, doc, emb, part, y\); name the text"):
        open_dataset(f"parquet:{path}", text="review").items()


def test_an_empty_text_names_its_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\na,fine\nb,\n")
    ds = open_dataset(f"csv:{path}")
    with pytest.raises(ItemError, match=r"b \(r\.csv line 3\): empty"):
        ds.load(next(it for it in ds.items() if it.id == "b"))
