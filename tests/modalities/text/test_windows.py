"""``-o chunks=rows``: a long document becomes overlapping word windows, each a row whose span points at the
characters it holds; search finds the window, a rerun embeds nothing, a changed document is embedded again."""

from __future__ import annotations

import numpy as np
import pytest

from embedforge.modalities.text.windows import word_spans
from embedforge.registry.datasets import open_dataset
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.search import search_text

FILLER = ["river", "stone", "valley", "cloud", "meadow", "forest", "lantern", "harbor", "window", "garden"]


def long_document(needle: str, at: int, words: int = 420, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    body = [str(w) for w in rng.choice(FILLER, words)]
    body[at : at + len(needle.split())] = needle.split()
    return " ".join(body[:200]) + "\n\n" + "  ".join(body[200:])  # uneven spacing: spans are characters


def test_word_spans_cover_the_text_with_overlapping_windows():
    text = long_document("x", 0)
    spans = word_spans(text, window=160, overlap=32)
    words = text.split()
    assert len(spans) == 4 and spans[0][0] == 0 and spans[-1][1] == len(text)  # 3 would leave overlaps < 32
    assert [text[a:b].split() for a, b in spans] == [words[a : a + 160] for a in (0, 87, 173, 260)]
    assert word_spans("short text here", 160, 32) == [(0, 15)]


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "docs"
    for label in ("nature", "city"):
        (root / label).mkdir(parents=True)
    (root / "nature" / "long.txt").write_text(
        long_document("the submarine surfaced beside the lighthouse at midnight", 330)
    )
    (root / "nature" / "short.txt").write_text("A short note about a quiet meadow.")
    (root / "city" / "street.txt").write_text("Traffic lights and taxis on a busy avenue.")
    return root


def test_windows_are_rows_whose_span_points_at_their_characters(folder, tmp_path):
    ds = open_dataset(f"textfolder:{folder}", chunks="rows", window="160", overlap="32")
    items = {it.id: it for it in ds.items()}
    text = (folder / "nature" / "long.txt").read_text()
    windows = sorted(i for i in items if i.startswith("nature/long.txt#"))
    assert len(windows) == 4 and {"nature/short.txt", "city/street.txt"} <= set(items)
    for wid in windows:
        item = items[wid]
        start, end = map(int, item.labels["span"].split("-"))
        assert ds.load(item).text == text[start:end] and wid.endswith(f"#{start}-{end}")
        assert item.labels["label"] == "nature" and item.labels["doc"] == "nature/long.txt"
        assert item.group == "nature/long.txt"
    assert len({items[w].split for w in windows}) == 1  # a document's windows never straddle train and test
    with pytest.raises(ValueError, match="encoder option chunks=mean"):
        open_dataset(f"textfolder:{folder}", chunks="mean")


def test_search_finds_the_window_and_reruns_embed_nothing(folder, tmp_path):
    db, ref, enc = str(tmp_path / "db"), f"textfolder:{folder}", "text/all-minilm-l6-v2"
    opts = {"chunks": "rows"}

    def run(work: str):
        plan = plan_embedding(dataset=ref, encoder=enc, db_uri=db, work_dir=work, dataset_name="docs", options=opts)
        return plan, [embed_shard(shard_path=p, encoder=enc, db_uri=db) for p in plan.shards]

    plan, results = run(str(tmp_path / "w1"))
    assert plan.total == 6 and sum(r.embedded for r in results) == 6
    from embedforge.registry.encoders import build_encoder

    model, ds = build_encoder(enc), open_dataset(ref, **opts)
    pieces = sum(len(model.preprocess(ds.load(it), it.id)["ids"]["input_ids"]) for it in ds.items())
    assert sum(r.units for r in results) == pieces and {r.unit for r in results} == {"tokens"}  # tokens/s
    hits = search_text(db_uri=db, encoder=enc, text="a submarine near a lighthouse", k=1)
    start, end = map(int, hits[0]["labels"]["span"].split("-"))
    text = (folder / "nature" / "long.txt").read_text()
    assert hits[0]["id"].startswith("nature/long.txt#") and "submarine surfaced" in " ".join(text[start:end].split())
    assert run(str(tmp_path / "w2"))[0].pending == 0
    (folder / "nature" / "long.txt").write_text(text.replace("midnight", "dawn"))
    plan, results = run(str(tmp_path / "w3"))
    assert plan.pending == 4 and sum(r.embedded for r in results) == 4  # the changed document's windows, once
