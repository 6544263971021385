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
    params = BenchmarkParams(
        modality="text",
        encoders=["text/tfidf-svd", "text/all-minilm-l6-v2"],
        datasets=[refs["textfolder"], refs["beir"]],
        heads=["classify/logreg"],
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
        output_csv=str(tmp_path / "board.csv"),
    )
    rows = run_benchmark(params)["rows"]
    retrieval = [r for r in rows if r["task"] == "retrieval"]
    heads = [r for r in rows if r["task"] == "classification"]
    assert len(retrieval) == 2 and len(heads) == 2
    minilm = next(r for r in retrieval if r["encoder"] == "text/all-minilm-l6-v2")
    assert minilm["ndcg@10"] > 0.8 and minilm["recall@100"] == 1.0 and minilm["n_test"] == 2
    assert all(0 <= r["mrr@10"] <= 1 for r in retrieval)
    assert next(r for r in heads if r["encoder"] == "text/all-minilm-l6-v2")["accuracy"] == 1.0
    with open(tmp_path / "board.csv") as f:
        written = list(csv.DictReader(f))
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10"} <= set(written[0])
    assert sum(1 for r in written if r["ndcg@10"] and not math.isnan(float(r["ndcg@10"]))) == 2
