"""UCF101, HMDB51 and folder layouts: labels, splits, groups, windows of long videos."""

import itertools

import pytest

from embedforge.modalities.video import synth
from embedforge.modalities.video.decode import Video, probe
from embedforge.registry.datasets import open_dataset


def _tiny_ucf(tmp_path, lists=True):
    root = synth.ucf_layout(tmp_path / "u", per_class=3, test_groups=1, n=4, size=32)
    if not lists:
        for f in (root / "ucfTrainTestlist").iterdir():
            f.unlink()
        (root / "ucfTrainTestlist").rmdir()
    return root


def test_ucf101_reads_split_lists_labels_and_groups(tmp_path):
    root = _tiny_ucf(tmp_path)
    items = {it.id: it for it in open_dataset(f"ucf101:{root}").items()}
    assert len(items) == 9
    it = items["SlidingBox/v_SlidingBox_g01_c01.avi"]
    assert (it.labels, it.split, it.group) == ({"label": "SlidingBox"}, "test", "g01")
    assert items["SlidingBox/v_SlidingBox_g03_c01.avi"].split == "train"
    train_groups = {i.group for i in items.values() if i.split == "train"}
    assert not train_groups & {i.group for i in items.values() if i.split == "test"}
    assert isinstance(open_dataset(f"ucf101:{root}").load(it), Video)


def test_ucf101_class_folders_directly_and_lists_elsewhere(tmp_path):
    root = _tiny_ucf(tmp_path)
    direct = open_dataset(f"ucf101:{root / 'UCF-101'}", splits=str(root / "ucfTrainTestlist")).items()
    assert sorted((i.id, i.split) for i in direct) == sorted(
        (i.id, i.split) for i in open_dataset(f"ucf101:{root}").items()
    )


def test_ucf101_class_folders_inside_any_single_wrapper_folder(tmp_path):
    root = _tiny_ucf(tmp_path)
    (root / "UCF-101").rename(root / "my_copy")  # not a known name: still the class root's wrapper
    items = open_dataset(f"ucf101:{root}").items()
    labels = {it.labels["label"] for it in items}
    assert len(labels) == 3 and "my_copy" not in labels and "SlidingBox" in labels
    assert {it.split for it in items} == {"train", "test"}


def test_ucf101_split_lists_matching_no_clip_are_an_error_naming_lines(tmp_path):
    root = _tiny_ucf(tmp_path)
    for f in (root / "ucfTrainTestlist").glob("*list0*.txt"):
        f.write_text("".join(f"Other/v_Other_g{i:02d}_c01.avi 1\n" for i in range(1, 4)))
    with pytest.raises(ValueError, match=r"match none of the 9 clips.*other/v_other_g01_c01\.avi"):
        open_dataset(f"ucf101:{root}").items()


def test_ucf101_without_lists_uses_the_official_group_rule(tmp_path):
    root = _tiny_ucf(tmp_path, lists=False)
    items = open_dataset(f"ucf101:{root}", split="1").items()
    assert len(items) == 9 and {i.split for i in items} == {"test"}  # groups 1-7 are split 1's test set
    items = open_dataset(f"ucf101:{root}", split="2").items()
    assert {i.split for i in items} == {"train"}  # split 2 tests groups 8-14
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        open_dataset(f"ucf101:{root}", split="4")


def test_hmdb51_split_files_mark_train_test_and_unused(tmp_path):
    root = tmp_path / "hmdb"
    frames = synth.index_frames(4, 32)
    names = {"brush_hair": ["April_brush_hair_u_nm_np1_ba_goo_0.avi", "May_brush_hair_f_nm_np1_fr_goo_1.avi"],
             "cartwheel": ["Bart_cartwheel_f_cm_np1_le_med_0.avi", "Lisa_cartwheel_f_cm_np1_ri_med_1.avi"]}  # fmt: skip
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for cls, files in names.items():
        for f in files:
            synth.write_video(root / "videos" / cls / f, frames)
        (splits / f"{cls}_test_split1.txt").write_text(f"{files[0]} 1 \n{files[1]} 2 \n")
        (splits / f"{cls}_test_split2.txt").write_text(f"{files[0]} 0 \n{files[1]} 1 \n")
    one = {i.id: i for i in open_dataset(f"hmdb51:{root / 'videos'}", splits=str(splits)).items()}
    assert one["brush_hair/April_brush_hair_u_nm_np1_ba_goo_0.avi"].split == "train"
    assert one["cartwheel/Lisa_cartwheel_f_cm_np1_ri_med_1.avi"].split == "test"
    assert one["cartwheel/Lisa_cartwheel_f_cm_np1_ri_med_1.avi"].labels == {"label": "cartwheel"}
    assert one["cartwheel/Lisa_cartwheel_f_cm_np1_ri_med_1.avi"].group == "Lisa"
    two = open_dataset(f"hmdb51:{root / 'videos'}", splits=str(splits), split="2").items()
    assert len(two) == 2 and all(i.split == "train" for i in two)  # code 0: unused, not embedded


def test_videofolder_stratified_split_and_windows_of_long_videos(tmp_path):
    root = tmp_path / "vf"
    rng = __import__("numpy").random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(5):
            synth.write_video(root / cls / f"{i}.mp4", synth.action_frames("RollingBall", rng, 8, 32), codec="libx264")
    synth.write_video(root / "a" / "long.mp4", synth.index_frames(100, 32), fps=10, codec="libx264")  # 10 s
    items = open_dataset(f"videofolder:{root}", long="5", window="3").items()
    files = {i.id.split("#")[0]: i for i in items}  # windows share their file's split
    tests = {c: sum(i.split == "test" for f, i in files.items() if f.startswith(c)) for c in "ab"}
    assert tests == {"a": round(0.3 * 6), "b": round(0.3 * 5)} == {"a": 2, "b": 2}
    wins = sorted((i for i in items if i.id.startswith("a/long.mp4#w")), key=lambda i: i.id)
    assert [w.id for w in wins] == ["a/long.mp4#w0000", "a/long.mp4#w0001", "a/long.mp4#w0002"]
    bounds = [(w.labels["start"], w.labels["end"]) for w in wins]
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(probe(wins[0].uri, "long").duration)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert len({w.content_hash for w in wins}) == 3
    assert open_dataset(f"videofolder:{root}").load(wins[1]) == Video(wins[1].uri, 3.0, 6.0)


def test_a_folder_named_like_a_video_and_a_link_loop_are_items_that_fail_naming_themselves(tmp_path):
    from embedforge.modalities.base import ItemError

    root = _tiny_ucf(tmp_path)
    cls = root / "UCF-101" / "SlidingBox"
    (cls / "dir.avi").mkdir()
    (cls / "loop.avi").symlink_to(cls / "loop.avi")  # a link to itself
    ds = open_dataset(f"ucf101:{root}")
    odd = {it.id: it for it in ds.items() if it.id.endswith(("dir.avi", "loop.avi"))}
    assert set(odd) == {"SlidingBox/dir.avi", "SlidingBox/loop.avi"}
    for it in odd.values():
        with pytest.raises(ItemError, match=f"{it.id}: not a regular file"):
            ds.load(it)
