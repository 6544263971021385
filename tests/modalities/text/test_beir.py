"""beir:DIR: corpus and queries in one table by role, titles joined as BEIR does, qrels and metrics."""

import json

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.text.retrieval import rank, retrieval_metrics
from embedforge.registry.datasets import open_dataset


@pytest.fixture
def beir_dir(tmp_path):
    root = tmp_path / "scifact"
    (root / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Rivers", "text": "Rivers flow to the sea."},
        {"_id": "d2", "title": "", "text": "Banks lend money."},
        {"_id": "d3", "text": "Mountains are tall."},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus) + "{broken\n")
    queries = [
        {"_id": "q1", "text": "where do rivers go"},
        {"_id": "q2", "text": "who lends money"},
        {"_id": "q3", "text": "unjudged"},
    ]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td2\t1\n")
    return root


def test_one_table_by_role(beir_dir):
    ds = open_dataset(f"beir:{beir_dir}")
    by_id = {it.id: it for it in ds.items()}
    assert {i for i in by_id if i.startswith("corpus/")} == {"corpus/d1", "corpus/d2", "corpus/d3", "corpus/line4"}
    assert by_id["corpus/d1"].labels == {"role": "corpus"} and by_id["corpus/d1"].split == "train"
    assert by_id["query/q1"].split == "test" and by_id["query/q2"].split == "val" and by_id["query/q3"].split is None
    assert ds.load(by_id["corpus/d1"]).text == "Rivers Rivers flow to the sea."
    assert ds.load(by_id["corpus/d2"]).text == "Banks lend money."
    query = ds.load(by_id["query/q1"])
    assert query.text == "where do rivers go" and query.role == "query"
    with pytest.raises(ItemError, match=r"corpus/line4.*not a JSON object"):
        ds.load(by_id["corpus/line4"])
    assert ds.qrels("test") == {"q1": {"d1": 1}} and ds.qrels("val") == {"q2": {"d2": 1}}


def test_rank_and_metrics():
    docs = np.eye(4, dtype=np.float32)
    queries = np.array([[1, 0.5, 0, 0], [0, 0, 0.2, 1]], dtype=np.float32)
    run = rank(queries, ["q1", "q2"], docs, ["d1", "d2", "d3", "d4"], k=3)
    assert list(run["q1"])[:2] == ["d1", "d2"] or set(run["q1"]) >= {"d1", "d2"}
    assert len(run["q1"]) == 3
    m = retrieval_metrics({"q1": {"d2": 1}, "q2": {"d4": 1}}, run)
    assert m["mrr_at_10"] == pytest.approx((0.5 + 1.0) / 2) and m["recall_at_10"] == 1.0
    assert m["ndcg_at_10"] == pytest.approx((1 / np.log2(3) + 1) / 2)


def test_judgements_naming_what_the_folder_lacks_are_left_out_and_named(beir_dir):
    root = beir_dir
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td999\t1\nq9\td1\t2\n")
    kept, left = open_dataset(f"beir:{root}").judgements("test")
    assert kept == {"q1": {"d1": 1}}
    assert left == ["q1 -> d999: no document 'd999' in corpus.jsonl", "q9 -> d1: no query 'q9' in queries.jsonl"]
