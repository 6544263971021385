"""search's passage for a row of a CSV/JSONL/Parquet file or BEIR corpus: the embedded text, found by its hash."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedforge.modalities.text.examples import datasets
from embedforge.modalities.text.sample import PREVIEW_CHARS, previews
from embedforge.registry.datasets import open_dataset


def _hits(ref: str, **options) -> dict[str, dict]:
    """What the vector table keeps of each item (what a search hit carries), by id."""
    return {it.id: {"uri": it.uri, "content_hash": it.content_hash, "labels": it.labels}
            for it in open_dataset(ref, **options).items()}  # fmt: skip


def preview(hit: dict) -> str | None:
    return previews([hit])[0]


def _flat(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_a_table_row_previews_its_embedded_text(tmp_path, kind):
    refs = datasets(str(tmp_path))
    hits = _hits(refs[kind])
    ds = open_dataset(refs[kind])
    for item in ds.items():
        assert preview(hits[item.id]) == _flat(ds.load(item).text)


def test_the_chosen_text_column_is_previewed_not_another_one(tmp_path):
    """``-o text=body`` over a file that also has a ``text`` column: the preview is the body that was embedded."""
    path = tmp_path / "mixed.jsonl"
    rows = [{"doc_id": f"d{i}", "text": f"a summary {i}", "body": f"the full body of document {i}"} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hits = _hits(f"jsonl:{path}", text="body", id="doc_id")
    assert preview(hits["d1"]) == "the full body of document 1"
    unnamed = _hits(f"jsonl:{path}", text="body", id="absent")  # no id column: rows are named by line number
    assert preview(unnamed["2"]) == "the full body of document 1"


def test_a_window_row_previews_its_window(tmp_path):
    path = tmp_path / "long.parquet"
    words = " ".join(f"w{i}" for i in range(400))
    pq.write_table(pa.Table.from_pylist([{"id": "long", "text": words}, {"id": "short", "text": "two words"}]), path)
    hits = _hits(f"parquet:{path}", chunks="rows", window=100, overlap=10)
    windows = [h for key, h in hits.items() if key.startswith("long#")]
    assert len(windows) > 3 and all(preview(h).startswith("w") for h in windows)
    first = min(windows, key=lambda h: int(h["labels"]["span"].split("-")[0]))
    assert preview(first).startswith("w0 w1 w2") and preview(hits["short"]) == "two words"


def test_a_beir_document_previews_title_and_text(tmp_path):
    refs = datasets(str(tmp_path))
    hits = _hits(refs["beir"])
    ds = open_dataset(refs["beir"])
    for item in ds.items():
        assert preview(hits[item.id]) == _flat(ds.load(item).text)


def test_a_changed_or_missing_file_previews_nothing(tmp_path):
    """Never a passage the vector did not come from: an edited row, a deleted file, a hash from elsewhere."""
    path = tmp_path / "rows.csv"
    path.write_text("id,text\nr1,first text\nr2,second text\n")
    hits = _hits(f"csv:{path}")
    assert preview(hits["r1"]) == "first text"
    path.write_text("id,text\nr1,first text edited\nr2,second text\n")
    assert preview(hits["r1"]) is None and preview(hits["r2"]) == "second text"
    assert preview(dict(hits["r2"], content_hash="0" * 64)) is None
    path.unlink()
    assert preview(hits["r2"]) is None
    assert preview({"uri": f"{tmp_path / 'no.parquet'}#1", "content_hash": "x", "labels": {}}) is None


def test_escaped_ids_multiline_rows_and_hits_on_several_files_in_one_call(tmp_path):
    """A JSONL id written as a JSON escape, a CSV whose quoted text spans lines (rows named by line number, as the
    adapter numbers them), and hits on both files and a missing row answered together, in order."""
    jsonl = tmp_path / "esc.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, "text": f"texte {i}"}) for i in ["café", "naïve"]) + "\n")
    table = tmp_path / "multi.csv"
    table.write_text('text,label\n"first line\nsecond line",a\n"another, quoted",b\n')
    hits = _hits(f"jsonl:{jsonl}")
    rows = _hits(f"csv:{table}", id="absent")
    assert sorted(rows) == ["3", "4"]  # csv line numbers where each record ends
    gone = dict(rows["4"], uri=f"{table}#99")
    assert previews([hits["naïve"], rows["3"], gone, rows["4"], hits["café"]]) == [
        "texte naïve", "first line second line", None, "another, quoted", "texte café"]  # fmt: skip


def test_an_id_of_digits_that_are_not_a_number_is_still_found(tmp_path):
    """``²`` is a digit to str.isdigit but no line number: the row is found by its id, the file not given up."""
    path = tmp_path / "sup.jsonl"
    path.write_text(json.dumps({"id": "²", "text": "squared"}) + "\n")
    assert preview(_hits(f"jsonl:{path}")["²"]) == "squared"
