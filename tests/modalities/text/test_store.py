"""Text through the embed stage's plain functions: bad files recorded, search by a .txt query, BEIR scores."""

import numpy as np

from embedforge.modalities.text.examples import datasets
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features
from embedforge.tasks.retrieval import retrieval_scores
from embedforge.tasks.search import search_file


def _embed(ref, encoder, db, work, weights, name):
    plan = plan_embedding(dataset=ref, encoder=encoder, db_uri=db, work_dir=work, weights=weights, dataset_name=name)
    return [embed_shard(shard_path=p, encoder=encoder, db_uri=db, weights=weights) for p in plan.shards]


def test_textfolder_embed_search_and_failures(tmp_path, cls_dir):
    refs = datasets(str(tmp_path / "data"))
    (tmp_path / "data" / "topics" / "sport" / "broken.txt").write_bytes(b"\x00\x01binary")
    db, work, weights = str(tmp_path / "db"), str(tmp_path / "work"), str(cls_dir)
    results = _embed(refs["textfolder"], "text/st", db, work, weights, "topics")
    failures = [f for r in results for f in r.failures]
    assert sum(r.embedded for r in results) == 12 and len(failures) == 1 and "sport/broken.txt" in str(failures[0])
    feats = load_features(db, "text/st", "topics", weights=weights)
    assert feats.X.shape == (12, 32) and set(feats.label("label")) == {"sport", "cooking"}

    query = tmp_path / "q.txt"
    query.write_text("Simmer the tomato sauce for twenty minutes.")
    hits = search_file(db_uri=db, encoder="text/st", path=str(query), k=3, weights=weights)
    assert hits and hits[0]["id"] == "cooking/doc06.txt"  # its own text, embedded on the query side
    from embedforge.registry.modalities import modality

    assert modality("text").previews(hits)[0] == "Simmer the tomato sauce for twenty minutes."  # what search prints


def test_search_on_a_csv_table_prints_the_rows_passage(tmp_path, cls_dir):
    """A row of a CSV has no file of its own: search shows the text embedded for it, from the store's hit."""
    refs = datasets(str(tmp_path / "data"))
    db, work, weights = str(tmp_path / "db"), str(tmp_path / "work"), str(cls_dir)
    assert sum(r.embedded for r in _embed(refs["csv"], "text/st", db, work, weights, "topics-csv")) == 12
    query = tmp_path / "q.txt"
    query.write_text("Simmer the tomato sauce for twenty minutes.")
    hits = search_file(db_uri=db, encoder="text/st", path=str(query), k=3, weights=weights)
    from embedforge.registry.modalities import modality

    assert hits[0]["id"] == "doc06" and modality("text").previews(hits)[0] == query.read_text()


def test_beir_scores_from_the_store(tmp_path):
    refs = datasets(str(tmp_path / "data"))
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    _embed(refs["beir"], "text/all-minilm-l6-v2", db, work, None, "beir-toy")
    scores = retrieval_scores(
        db_uri=db, encoder="text/all-minilm-l6-v2", dataset_ref=refs["beir"], dataset_name="beir-toy"
    )
    assert scores["n_queries"] == 2 and scores["n_corpus"] == 12
    assert scores["ndcg_at_10"] > 0.8 and scores["recall_at_100"] == 1.0  # real MiniLM tells sport from cooking
    assert np.isfinite(scores["mrr_at_10"])


def test_beir_long_documents_are_found_by_their_best_window(tmp_path):
    """A relevant sentence deep inside long documents (past MiniLM's 256 word pieces): cut off when documents are
    truncated, found with ``-o chunks=rows``, where each document scores as its best window (MaxP)."""
    import json

    root = tmp_path / "long"
    (root / "qrels").mkdir(parents=True)
    needles = ["a violin concert in a Vienna opera house", "baking a lemon tart with butter and sugar",
               "a goalkeeper saving a penalty in the final", "volcanic lava flowing into the ocean",
               "a submarine diving under arctic ice", "planting tomatoes in a greenhouse garden"]  # fmt: skip
    rng = np.random.default_rng(0)
    filler = [
        "the",
        "report",
        "notes",
        "that",
        "the",
        "committee",
        "met",
        "on",
        "tuesday",
        "and",
        "reviewed",
        "the",
        "minutes",
        "of",
        "the",
        "last",
        "meeting",
    ]
    docs, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for i, needle in enumerate(needles):
        words = [str(w) for w in rng.choice(filler, 420)]
        text = " ".join(words[:330]) + f". {needle.capitalize()}. " + " ".join(words[330:])
        docs.append({"_id": f"d{i}", "title": "", "text": text})
        queries.append({"_id": f"q{i}", "text": needle})
        qrels.append(f"q{i}\td{i}\t1")
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    scores = {}
    for name, options in (("whole", {}), ("rows", {"chunks": "rows", "window": "60", "overlap": "10"})):
        db, work = str(tmp_path / f"db-{name}"), str(tmp_path / f"work-{name}")
        plan = plan_embedding(dataset=f"beir:{root}", encoder="text/all-minilm-l6-v2", db_uri=db, work_dir=work,
                              dataset_name=name, options=options)  # fmt: skip
        for p in plan.shards:
            embed_shard(shard_path=p, encoder="text/all-minilm-l6-v2", db_uri=db)
        scores[name] = retrieval_scores(db_uri=db, encoder="text/all-minilm-l6-v2", dataset_ref=f"beir:{root}",
                                        dataset_name=name)  # fmt: skip
    assert scores["rows"]["n_corpus"] == scores["whole"]["n_corpus"] == 6  # documents, not windows
    assert scores["rows"]["mrr_at_10"] == 1.0 and scores["rows"]["ndcg_at_10"] == 1.0
    assert scores["whole"]["ndcg_at_10"] < 0.8  # truncated at 256 word pieces, the needles were never read
