"""Only regular files are read: a FIFO or a link to /dev/zero named like an item fails fast, never hangs a run."""

from __future__ import annotations

import os

import pytest

from embedforge.modalities.base import ItemError, NotARegularFile, file_sha256
from embedforge.modalities.speech.audio import audio_file_hash, read_audio


@pytest.fixture
def odd_files(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes, reading it waits forever
    zero = tmp_path / "zero.wav"
    zero.symlink_to("/dev/zero")  # reads never end
    return fifo, zero


@pytest.mark.timeout(30)
def test_hashing_refuses_fifos_and_devices_at_once(odd_files):
    for path in odd_files:
        with pytest.raises(NotARegularFile, match="not a regular file"):
            file_sha256(path)
        assert len(audio_file_hash(path)) == 64  # the scan keeps it as an item that fails at load


@pytest.mark.timeout(30)
def test_reading_names_the_file_and_says_why(odd_files):
    for path in odd_files:
        with pytest.raises(ItemError, match=f"{path.name}: not a regular file"):
            read_audio(path)
