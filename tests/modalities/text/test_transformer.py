"""Sentence-transformers directories read as the library reads them; batches sorted by length; identity."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.text.sample import Text
from embedforge.modalities.text.transformer import read_st_dir
from embedforge.registry.encoders import build_encoder
from tests.modalities.text.conftest import write_st_dir

TEXTS = ["short", "a somewhat longer sentence about rivers and banks", "mid length text here", "x " * 200]


def test_reads_the_declared_forward(cls_dir):
    cfg = read_st_dir(cls_dir)
    assert cfg.pooling == ("cls",) and not cfg.normalize and cfg.max_seq_length == 64
    assert cfg.prompt("query") == "query: " and cfg.prompt("document") == "passage: "


def test_plain_transformers_dir_is_mean_pooled_unnormalised(cls_dir, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (plain / name).write_bytes((cls_dir / name).read_bytes())
    cfg = read_st_dir(plain)
    assert cfg.pooling == ("mean",) and not cfg.normalize and cfg.prompts == {}


def test_unsupported_modules_are_refused(tmp_path):
    dense = {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    root = write_st_dir(tmp_path / "d", {"pooling_mode_mean_tokens": True}, modules_extra=[dense])
    with pytest.raises(ValueError, match=r"Dense.*not supported"):
        read_st_dir(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers directory"):
        read_st_dir(tmp_path / "empty")


def test_new_style_pooling_mode_key(tmp_path):
    root = write_st_dir(tmp_path / "n", {"pooling_mode": ["max", "mean"]})
    assert read_st_dir(root).pooling == ("max", "mean")
    assert build_encoder("text/st", weights=str(root)).spec.dim == 64


def test_vectors_do_not_depend_on_batch_order_or_mates(cls_dir):
    enc = build_encoder("text/st", weights=str(cls_dir), batch_size=2)
    inputs = [enc.preprocess(Text(t), str(i)) for i, t in enumerate(TEXTS)]
    together = enc.encode(inputs)
    alone = np.concatenate([enc.encode([x]) for x in inputs])
    reversed_ = enc.encode(inputs[::-1])[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, reversed_, atol=1e-5)
    assert len(inputs[3]["ids"]["input_ids"]) == 64  # truncated at max_seq_length


def test_query_side_and_identity(cls_dir):
    enc = build_encoder("text/st", weights=str(cls_dir))
    doc = enc.encode([enc.preprocess(Text("rivers"), "d")])
    query = enc.encode([enc.preprocess_query(Text("rivers"), "q")])
    assert not np.allclose(doc, query)
    np.testing.assert_allclose(enc.encode_text(["rivers"]), query, atol=1e-6)
    np.testing.assert_allclose(enc.encode([enc.preprocess(Text("rivers", role="query"), "q")]), query, atol=1e-6)
    ident = enc.identity()
    assert ident["input"]["pooling"] == "cls" and ident["input"]["prompts"]["query"] == "query: "
    assert ident["weights"] == str(cls_dir.resolve()) and ident["dim"] == 32
    assert build_encoder("text/st", weights=str(cls_dir), pooling="last2-mean").fingerprint != enc.fingerprint


def test_bad_input_and_options(cls_dir):
    enc = build_encoder("text/st", weights=str(cls_dir))
    with pytest.raises(ItemError, match=r"item-9.*expected text"):
        enc.preprocess(np.zeros(3), "item-9")
    with pytest.raises(ItemError, match="item-9: empty"):
        enc.preprocess(Text("   "), "item-9")
    with pytest.raises(ValueError, match="pooling='median'"):
        build_encoder("text/st", weights=str(cls_dir), pooling="median")
    with pytest.raises(FileNotFoundError):
        build_encoder("text/st", weights="/no/such/dir")


def test_a_changed_config_changes_the_identity(cls_dir, tmp_path):
    import shutil

    other = tmp_path / "copy"
    shutil.copytree(cls_dir, other)
    cfg = json.loads((other / "sentence_bert_config.json").read_text())
    (other / "sentence_bert_config.json").write_text(json.dumps({**cfg, "max_seq_length": 32}))
    a, b = build_encoder("text/st", weights=str(cls_dir)), build_encoder("text/st", weights=str(other))
    assert a.fingerprint != b.fingerprint and b.spec.input["max_seq_length"] == 32


def test_the_weights_hash_is_kept_per_file_version_and_equals_the_tensors_hash(tmp_path):
    from embedforge.modalities.base import state_dict_fingerprint

    root = write_st_dir(tmp_path / "w", {"pooling_mode_mean_tokens": True})
    enc = build_encoder("text/st", weights=str(root))
    assert build_encoder("text/st", weights=str(root)).fingerprint == enc.fingerprint
    kept = {p.read_text() for p in Path(os.environ["EMBEDFORGE_HOME"]).glob("cache/fingerprints/*")}
    assert state_dict_fingerprint(enc.model.state_dict()) in kept
    write_st_dir(root, {"pooling_mode_mean_tokens": True}, seed=1)  # new tensors in the same files
    assert build_encoder("text/st", weights=str(root)).fingerprint != enc.fingerprint


def test_a_shard_fed_a_few_batches_at_a_time_stores_the_encoders_own_vectors(cls_dir, tmp_path, monkeypatch):
    import embedforge.tasks.embed as embed
    from embedforge.tasks.features import load_features

    monkeypatch.setattr(embed, "STREAM_BATCHES", 1)
    root = tmp_path / "docs" / "a"
    root.mkdir(parents=True)
    texts = {f"d{i:02d}": "river bank " * (1 + 3 * i) for i in range(12)}
    for name, text in texts.items():
        (root / f"{name}.txt").write_text(text)
    db, ref = str(tmp_path / "db"), f"textfolder:{tmp_path / 'docs'}"
    plan = embed.plan_embedding(dataset=ref, encoder="text/st", db_uri=db, work_dir=str(tmp_path / "w"),
                                weights=str(cls_dir), shard_size=100)  # fmt: skip
    assert embed.in_size_order([embed.Item.from_dict(d) for d in json.loads(Path(plan.shards[0]).read_text())["items"]])
    embed.embed_shard(shard_path=plan.shards[0], encoder="text/st", db_uri=db, weights=str(cls_dir), batch_size=2)
    feats = load_features(db, "text/st", weights=str(cls_dir))
    enc = build_encoder("text/st", weights=str(cls_dir))
    assert len(feats.ids) == len(texts)
    for i, item in enumerate(feats.ids):
        name = Path(item).stem
        expected = enc.encode([enc.preprocess(Text(texts[name]), name)])[0]
        assert np.allclose(feats.X[i], expected, atol=1e-5)


def test_a_long_text_is_cut_before_tokenising_to_the_same_ids(cls_dir):
    """Only the words a truncating tokeniser can reach are tokenised; the ids are those of the whole text."""
    enc = build_encoder("text/st", weights=str(cls_dir))
    rng = np.random.default_rng(0)
    words = ["river", "naïve", "don't", "3.14", "東京", "über", "a", "tokenisation", "!!", "données"]
    text = " ".join(rng.choice(words, 5000)) + "\n\t tail"
    full = enc.config.prompt("document") + text  # the directory's document prompt comes first
    whole = enc.tokenizer(full, truncation="longest_first", max_length=enc.max_length)["input_ids"]
    real, seen = enc.tokenizer, []
    enc.tokenizer = lambda t, **kw: seen.append(len(t)) or real(t, **kw)
    assert enc.preprocess(Text(text), "long")["ids"]["input_ids"] == whole
    assert seen and max(seen) < len(full) // 3  # the tail the truncation drops was never tokenised
