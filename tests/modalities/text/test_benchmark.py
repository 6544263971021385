"""`embedforge benchmark text`: classification cells for a labelled folder, retrieval cells for a BEIR folder."""

import csv
import math

import pytest

from embedforge.flows.benchmark import run_benchmark
from embedforge.flows.params import BenchmarkParams
from embedforge.modalities.text.examples import datasets


@pytest.mark.slow
def test_benchmark_text_heads_and_retrieval(prefect_harness, tmp_path):
    refs = datasets(str(tmp_path / "data"))
    qrels = tmp_path / "data" / "beir" / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q0\td999\t1\n")  # a judgement naming a document the corpus lacks
    params = BenchmarkParams(
        modality="text",
        encoders=["text/tfidf-svd", "text/all-minilm-l6-v2"],
        datasets=[refs["textfolder"], refs["beir"]],
        heads=["classify/logreg"],
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
        output_csv=str(tmp_path / "board.csv"),
        transforms=["none", "int8", "binary"],
    )
    rows = run_benchmark(params)["rows"]
    retrieval = {(r["encoder"], r["head"], r["transform"]): r for r in rows if r["task"] == "retrieval"}
    heads = [r for r in rows if r["task"] == "classification"]
    assert len(retrieval) == 2 * 2 * 3 and len(heads) == 2 * 3  # exact and ANN rows per transform
    minilm = retrieval["text/all-minilm-l6-v2", "retrieval/cosine", "none"]
    assert minilm["ndcg_at_10"] > 0.8 and minilm["recall_at_100"] == 1.0 and minilm["n_test"] == 2
    assert minilm["ndcg_at_10"] > retrieval["text/tfidf-svd", "retrieval/cosine", "none"]["ndcg_at_10"]
    assert retrieval["text/all-minilm-l6-v2", "retrieval/ann", "none"]["ndcg_at_10"] == pytest.approx(
        minilm["ndcg_at_10"]
    )
    int8 = retrieval["text/all-minilm-l6-v2", "retrieval/cosine", "int8"]
    assert int8["bytes_per_vector"] == 384 and minilm["bytes_per_vector"] == 4 * 384 and int8["ndcg_at_10"] > 0.8
    assert retrieval["text/all-minilm-l6-v2", "retrieval/cosine", "binary"]["bytes_per_vector"] == 48
    assert all(0 <= r["mrr_at_10"] <= 1 for r in retrieval.values())
    plain = [r for r in heads if r["encoder"] == "text/all-minilm-l6-v2" and r["transform"] == "none"]
    assert plain[0]["accuracy"] == 1.0
    with open(tmp_path / "board.csv") as f:
        written = list(csv.DictReader(f))
    assert {"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"} <= set(written[0])
    assert sum(1 for r in written if r["ndcg_at_10"] and not math.isnan(float(r["ndcg_at_10"]))) == 12
    assert all(r["qrels_left_out"] == 1 and r["run_id"] and not r["cached"] for r in retrieval.values())
    again = {
        (r["encoder"], r["head"], r["transform"]): r for r in run_benchmark(params)["rows"] if r["task"] == "retrieval"
    }
    assert all(r["cached"] and r["run_id"] == retrieval[k]["run_id"] for k, r in again.items())  # read back from MLflow
    assert again[("text/all-minilm-l6-v2", "retrieval/cosine", "none")]["ndcg_at_10"] == minilm["ndcg_at_10"]
