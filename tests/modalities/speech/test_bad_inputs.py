"""Bad speech inputs become recorded failures naming the file; an optional label table never stops a run."""

from __future__ import annotations

import http.server
import threading

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.speech import voxceleb
from embedforge.modalities.speech.audio import decode_audio, read_audio
from embedforge.registry.datasets import open_dataset
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.store import VectorStore


def voices(write_wav, root: str, n: int = 3) -> None:
    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(1)
    for i in range(n):
        voice = make_voice(f"id1000{i}", "mf"[i % 2], 170.0 + i, rng)
        write_wav(f"{root}/id1000{i}/v/0.wav", synthesize(voice, 1.0, rng))


def test_directory_named_like_audio_is_a_failure_and_good_files_are_stored(tmp_path, write_wav):
    voices(write_wav, "vox")
    (tmp_path / "vox/id10001/v/x.wav").mkdir()
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(
        dataset=f"voxceleb:{tmp_path / 'vox'}",
        encoder="speech/ge2e",
        db_uri=db,
        work_dir=work,
        dataset_name="v",
        options={"heightceleb": "none"},
    )
    results = [embed_shard(shard_path=p, encoder="speech/ge2e", db_uri=db) for p in plan.shards]
    assert sum(r.embedded for r in results) == 3
    (failure,) = VectorStore(db).failures(plan.table, "v")
    assert failure["id"] == "id10001/v/x.wav" and "is a directory" in failure["error"]


def test_timit_directory_named_like_audio_fails_at_load_naming_it(tmp_path, write_wav):
    write_wav("timit/TRAIN/DR1/FCJF0/SA1.WAV", np.zeros(160) + 0.1)
    (tmp_path / "timit/TRAIN/DR1/FCJF0/SA2.WAV").mkdir()
    ds = open_dataset(f"timit:{tmp_path / 'timit'}")
    items = {it.id: it for it in ds.items()}
    assert set(items) == {"TRAIN/DR1/FCJF0/SA1.WAV", "TRAIN/DR1/FCJF0/SA2.WAV"}
    with pytest.raises(ItemError, match=r"SA2\.WAV.*is a directory"):
        ds.load(items["TRAIN/DR1/FCJF0/SA2.WAV"])


def test_huge_float_samples_are_named_as_out_of_range(write_wav):
    path = write_wav("loud.wav", np.random.default_rng(0).normal(0, 0.1, 8000) * 1e30, subtype="FLOAT")
    with pytest.raises(ItemError, match="out-of-range samples"):
        read_audio(path)


def test_decode_audio_refuses_long_media_from_the_header(write_wav):
    data = write_wav("long.wav", np.zeros(16000 * 5) + 0.1).read_bytes()
    with pytest.raises(ItemError, match=r"5\.0 s of audio, the limit is 2 s"):
        decode_audio(data, "row 0", max_seconds=2)
    assert decode_audio(data, "row 0", max_seconds=10).waveform.shape == (1, 16000 * 5)


class _Table(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_heightceleb_offline_embeds_without_labels_then_caches_the_first_fetch(tmp_path, write_wav, monkeypatch):
    monkeypatch.setenv("EMBEDFORGE_HOME", str(tmp_path / "home"))
    voices(write_wav, "vox", n=2)
    monkeypatch.setattr(voxceleb, "HEIGHTCELEB_URL", "http://127.0.0.1:9/height_celeb.csv")  # nothing listens
    with pytest.warns(UserWarning, match="embedding without height/sex labels"):
        items = open_dataset(f"voxceleb:{tmp_path / 'vox'}").items()
    assert len(items) == 2 and all(it.labels == {} for it in items)
    _Table.body = b"VoxCeleb1 ID,height,sex,split\nid10000,180,M,TRAIN\nid10001,165,F,TEST\n"
    server = http.server.HTTPServer(("127.0.0.1", 0), _Table)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(voxceleb, "HEIGHTCELEB_URL", f"http://127.0.0.1:{server.server_port}/height_celeb.csv")
        fetched = {it.group: it.labels for it in open_dataset(f"voxceleb:{tmp_path / 'vox'}").items()}
    finally:
        server.shutdown()
    assert fetched == {"id10000": {"height": 180.0, "sex": "m"}, "id10001": {"height": 165.0, "sex": "f"}}
    assert (tmp_path / "home" / "cache" / "height_celeb.csv").is_file()
    monkeypatch.setattr(voxceleb, "HEIGHTCELEB_URL", "http://127.0.0.1:9/height_celeb.csv")  # offline again
    cached = {it.group: it.labels for it in open_dataset(f"voxceleb:{tmp_path / 'vox'}").items()}
    assert cached == fetched
