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
