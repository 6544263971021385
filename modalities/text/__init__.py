"""Text: folder/CSV/JSONL/BEIR adapters, sentence-transformers encoders (all-MiniLM-L6-v2 shipped), TF-IDF+SVD."""

from embedforge.modalities.text import beir, datasets, encoders, examples  # noqa: F401  (registration)
from embedforge.modalities.text.sample import QUERY_SUFFIXES, Text, decode_text, previews, read_text
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality

MODALITY = register_modality(
    Modality(
        name="text",
        sample_type=Text,
        adapters=("textfolder", "csv", "jsonl", "parquet", "beir"),
        read_query=read_text,
        raw_input=RawInput(
            column="text",
            decode=decode_text,
            description="base64 of the UTF-8 text (the served request contract carries bytes as base64)",
            suffix=".txt",
        ),
        default_heads=("classify/logreg", "classify/ridge", "classify/linear"),
        default_encoders=("text/tfidf-svd", "text/all-minilm-l6-v2"),
        query_suffixes=QUERY_SUFFIXES,
        description="UTF-8 documents and queries (sentence embeddings, retrieval)",
        retrieval_adapters=("beir",),  # benchmark: nDCG@10, recall@10/@100, MRR@10 instead of heads
        previews=previews,  # search prints each hit's passage
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)

__all__ = ["MODALITY", "Text"]
