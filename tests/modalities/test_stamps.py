"""Work keyed on unchanged files: done once per file version, again after any write or replacement."""

import os

from embedforge.modalities.stamps import remembered, stat_key


def test_a_result_is_computed_once_per_file_version(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"a" * 64)
    calls = []

    def compute():
        calls.append(1)
        return f"hash of {f.read_bytes()[:1]!r}"

    first = remembered("t", stat_key([f]), compute, home=tmp_path)
    assert remembered("t", stat_key([f]), compute, home=tmp_path) == first and len(calls) == 1
    f.write_bytes(b"b" * 64)  # same size, new content: a new modification time
    assert remembered("t", stat_key([f]), compute, home=tmp_path) != first and len(calls) == 2


def test_the_key_follows_size_time_inode_and_extras(tmp_path):
    f = tmp_path / "w"
    f.write_bytes(b"x")
    key = stat_key([f], "v1")
    assert stat_key([f], "v2") != key
    st = f.stat()
    other = tmp_path / "w2"
    other.write_bytes(b"y")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, f)  # a replacement with the same size and time is another inode
    assert stat_key([f], "v1") != key


def test_an_unwritable_home_still_answers(tmp_path):
    blocked = tmp_path / "home"
    blocked.write_text("a file where the home folder should be")
    assert remembered("t", "k", lambda: "v", home=blocked) == "v"


# -- dataset files: a sha256 read once per file version ------------------------------------------------------
def _counting(monkeypatch):
    from embedforge.modalities import stamps

    reads = []
    real = stamps.file_sha256

    def counted(path, *a, **k):
        reads.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(stamps, "file_sha256", counted)
    return reads


def test_a_settled_file_is_read_once_and_again_after_any_change(tmp_path, monkeypatch):
    import hashlib

    from embedforge.modalities import stamps

    monkeypatch.setattr(stamps, "RACY_S", 0.0)
    reads = _counting(monkeypatch)
    f = tmp_path / "data" / "a.wav"
    f.parent.mkdir()
    f.write_bytes(b"a" * 4096)
    first = stamps.file_sha256_memo(f, home=tmp_path / "home")
    assert first == hashlib.sha256(b"a" * 4096).hexdigest()
    assert stamps.file_sha256_memo(f, home=tmp_path / "home") == first and len(reads) == 1
    st = f.stat()
    f.write_bytes(b"b" * 4096)  # same size, then the old modification time put back (``cp -p``, ``touch -r``)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert stamps.file_sha256_memo(f, home=tmp_path / "home") == hashlib.sha256(b"b" * 4096).hexdigest()
    assert len(reads) == 2
    g = tmp_path / "data" / "b.wav"  # another file with the same bytes: its own entry, the same digest
    g.write_bytes(b"b" * 4096)
    assert stamps.file_sha256_memo(g, home=tmp_path / "home") == hashlib.sha256(b"b" * 4096).hexdigest()


def test_a_file_changed_just_now_is_not_remembered(tmp_path, monkeypatch):
    from embedforge.modalities import stamps

    reads = _counting(monkeypatch)
    f = tmp_path / "x.txt"
    f.write_text("fresh")  # a second write within the clock's tick could keep these very times
    stamps.file_sha256_memo(f, home=tmp_path / "home")
    stamps.file_sha256_memo(f, home=tmp_path / "home")
    assert len(reads) == 2


def test_a_file_that_changes_while_it_is_read_is_not_remembered(tmp_path, monkeypatch):
    from embedforge.modalities import stamps

    monkeypatch.setattr(stamps, "RACY_S", 0.0)
    f = tmp_path / "grow.txt"
    f.write_text("one")
    real = stamps.file_sha256

    def appending(path, *a, **k):
        digest = real(path, *a, **k)
        with open(path, "a") as out:
            out.write(" two")
        return digest

    monkeypatch.setattr(stamps, "file_sha256", appending)
    stamps.file_sha256_memo(f, home=tmp_path / "home")
    monkeypatch.setattr(stamps, "file_sha256", real)
    import hashlib

    assert stamps.file_sha256_memo(f, home=tmp_path / "home") == hashlib.sha256(b"one two").hexdigest()


def test_a_fifo_is_refused_and_an_unusable_home_still_hashes(tmp_path, monkeypatch):
    import hashlib

    import pytest

    from embedforge.modalities import stamps
    from embedforge.modalities.base import NotARegularFile

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile, match="FIFO"):
        stamps.file_sha256_memo(fifo, home=tmp_path / "home")
    monkeypatch.setattr(stamps, "RACY_S", 0.0)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the home's cache folder would be")
    f = tmp_path / "y.txt"
    f.write_text("data")
    assert stamps.file_sha256_memo(f, home=blocked) == hashlib.sha256(b"data").hexdigest()


def test_a_speech_plan_rerun_reads_no_file_again(tmp_path, monkeypatch):
    from embedforge.modalities import stamps
    from embedforge.modalities.speech.synth import make_voxceleb_dataset
    from embedforge.registry.datasets import open_dataset

    monkeypatch.setattr(stamps, "RACY_S", 0.0)
    root = tmp_path / "vox"
    table = make_voxceleb_dataset(root, 2, 2, seed=1, seconds=0.5)
    reads = _counting(monkeypatch)
    first = {it.id: it.content_hash for it in open_dataset(f"voxceleb:{root}", heightceleb=str(table)).items()}
    assert len(reads) == len(first) == 4
    again = {it.id: it.content_hash for it in open_dataset(f"voxceleb:{root}", heightceleb=str(table)).items()}
    assert again == first and len(reads) == 4


def test_threads_and_processes_share_the_memo(tmp_path, monkeypatch):
    import hashlib
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from embedforge.modalities import stamps

    monkeypatch.setattr(stamps, "RACY_S", 0.0)
    files = []
    for i in range(40):
        f = tmp_path / "data" / f"{i}.bin"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(bytes([i]) * 1000)
        files.append(f)
    expected = [hashlib.sha256(bytes([i]) * 1000).hexdigest() for i in range(40)]
    home = tmp_path / "home"
    script = (
        "import sys; from pathlib import Path; from embedforge.modalities import stamps; stamps.RACY_S = 0.0; "
        "print(','.join(stamps.file_sha256_memo(p, home=Path(sys.argv[1])) for p in sys.argv[2:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(home), *map(str, files)], stdout=subprocess.PIPE, text=True
    )
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda f: stamps.file_sha256_memo(f, home=home), files)) == expected
    out, _ = proc.communicate(timeout=60)
    assert out.strip().split(",") == expected
    reads = _counting(monkeypatch)
    assert [stamps.file_sha256_memo(f, home=home) for f in files] == expected and reads == []
