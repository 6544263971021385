"""Small offline text inputs (``Modality.examples``): sentences, a ``.txt`` query, a folder, a CSV and a JSONL file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from embedforge.modalities.text.sample import Text

TOPICS = {
    "sport": [
        "The striker scored twice in the second half.",
        "The marathon runner set a new course record.",
        "Our team lost the final on penalties.",
        "She won the tennis match in straight sets.",
        "The goalkeeper saved a late penalty.",
        "Cyclists climbed the mountain stage in the rain.",
    ],
    "cooking": [
        "Simmer the tomato sauce for twenty minutes.",
        "Knead the dough until it is smooth and elastic.",
        "Roast the vegetables with olive oil and garlic.",
        "Whisk the eggs with sugar until pale.",
        "Season the soup with salt and fresh pepper.",
        "Bake the bread at a high temperature.",
    ],
}


def _docs() -> list[tuple[str, str]]:
    return [(label, text) for label, texts in TOPICS.items() for text in texts]


def sample(seed: int) -> Text:
    """One short document; different seeds give different sentences."""
    docs = _docs()
    label, text = docs[seed % len(docs)]
    return Text(f"{text} (example {seed}, about {label})")


def query_file(folder: str, seed: int) -> str:
    path = Path(folder) / f"query{seed}.txt"
    path.write_text(sample(seed).text + "\n", encoding="utf-8")
    return str(path)


def datasets(folder: str) -> dict[str, str | tuple[str, dict]]:
    """The same 12 labelled documents as a class folder, a CSV, a JSONL and a Parquet file (8 train + 4 test)."""
    root = Path(folder)
    tree = root / "topics"
    rows = []
    for i, (label, text) in enumerate(_docs()):
        split = "test" if i % 6 in (0, 3) else "train"
        (tree / label).mkdir(parents=True, exist_ok=True)
        (tree / label / f"doc{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
        rows.append({"id": f"doc{i:02d}", "text": text, "label": label, "split": split})
    with open(root / "topics.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "text", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    (root / "topics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _write_parquet(root / "topics.parquet", rows)
    out: dict[str, str | tuple[str, dict]] = {
        "textfolder": f"textfolder:{tree}",
        "csv": f"csv:{root / 'topics.csv'}",
        "jsonl": f"jsonl:{root / 'topics.jsonl'}",
        "parquet": f"parquet:{root / 'topics.parquet'}",
    }
    beir = root / "beir"
    if _write_beir(beir):
        out["beir"] = f"beir:{beir}"
    return out


def _write_parquet(path: Path, rows: list[dict]) -> None:
    """The rows with a vector column beside them, as tables exported from a store often carry."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([dict(r, vector=[float(i)] * 4) for i, r in enumerate(rows)])
    pq.write_table(table, path)


def _write_beir(root: Path) -> bool:
    """A BEIR folder: the 12 documents as the corpus, one query per topic, test qrels."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    docs = _docs()
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, (label, text) in enumerate(docs):
            f.write(json.dumps({"_id": f"d{i}", "title": label.title(), "text": text}) + "\n")
    queries = {"q0": "who won the game", "q1": "how to prepare food in the oven"}
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for i, (label, _) in enumerate(docs):
        lines.append(f"{'q0' if label == 'sport' else 'q1'}\td{i}\t1")
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return True
