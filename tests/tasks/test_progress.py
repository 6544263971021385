"""The progress file work in a flow appends to and the CLI reads: whole lines under concurrent writers."""

import multiprocessing as mp

from embedforge.tasks.progress import append_event, read_events


def _writer(path: str, who: int) -> None:
    for i in range(200):
        append_event(path, event="cell", who=who, i=i, pad="x" * 300)


def test_concurrent_writers_never_interleave_a_line(tmp_path):
    path = str(tmp_path / "p.jsonl")
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    events = read_events(path)
    assert len(events) == 800
    assert {(e["who"], e["i"]) for e in events} == {(w, i) for w in range(4) for i in range(200)}


def test_no_file_asked_for_writes_nothing_and_a_missing_file_reads_empty(tmp_path):
    append_event(None, event="cell")
    append_event("", event="cell")
    assert list(tmp_path.iterdir()) == [] and read_events(tmp_path / "none.jsonl") == []
