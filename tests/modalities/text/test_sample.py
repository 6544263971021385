"""Text from files and requests: bad input is an ItemError naming it."""

import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.text.sample import Text, checked_text, decode_text, read_file, read_text


def test_utf8_text_and_bom_decode():
    assert decode_text("Grüße, 東京\n".encode(), "x") == Text("Grüße, 東京\n")
    assert decode_text(b"\xef\xbb\xbfhello", "x") == Text("hello")


@pytest.mark.parametrize(
    ("data", "why"),
    [(b"", "empty"), (b"  \n\t", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), (b"caf\xe9", "UTF-8")],
)
def test_bad_bytes_are_item_errors_naming_the_input(data, why):
    with pytest.raises(ItemError, match=rf"doc-7.*{why}"):
        decode_text(data, "doc-7")


def test_over_the_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(b"word " * 1000)
    with pytest.raises(ItemError, match=r"huge\.txt.*over the 100 byte limit"):
        read_file(path, limit=100)
    assert read_file(path, limit=10_000).text.startswith("word")
    with pytest.raises(ItemError, match="over the"):
        checked_text("x" * 101, "cell", limit=100)


def test_read_text_is_for_txt_files(tmp_path):
    (tmp_path / "q.txt").write_text("where is the river bank")
    assert read_text(str(tmp_path / "q.txt")) == Text("where is the river bank")
    (tmp_path / "q.md").write_text("x")
    with pytest.raises(ItemError, match="unsupported"):
        read_text(str(tmp_path / "q.md"))
    with pytest.raises(ItemError, match="no such"):
        read_text(str(tmp_path / "missing.txt"))


def test_a_hit_previews_its_passage_or_window_and_a_missing_file_nothing(tmp_path):
    from embedforge.modalities.text.sample import PREVIEW_CHARS, previews

    doc = tmp_path / "a.txt"
    doc.write_text("Rivers   flow\nto the sea. " + "word " * 100)
    hits = [
        {"uri": str(doc), "labels": {}},
        {"uri": f"{doc}#0-11", "labels": {"span": "9-20"}},
        {"uri": f"{tmp_path / 'rows.csv'}#7", "labels": {}},
        {"uri": None, "labels": {}},
    ]
    whole, window, missing, none = previews(hits)
    assert whole.startswith("Rivers flow to the sea. word") and len(whole) == PREVIEW_CHARS
    assert window == "flow to the" and missing is None and none is None
