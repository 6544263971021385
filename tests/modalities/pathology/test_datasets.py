"""The slides adapter: labels, patient split, unlabelled slides, recorded whole-slide failures, resume per slide."""

import numpy as np
import pytest

from embedforge.modalities.base import Encoder, EncoderSpec, ItemError
from embedforge.modalities.pathology.bags import bags_from_features
from embedforge.registry.cache import cached_encoder
from embedforge.registry.datasets import open_dataset
from embedforge.registry.encoders import ENCODERS, register_encoder
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features
from embedforge.tasks.store import VectorStore
from tests.modalities.pathology.conftest import TILES, embed
from tests.modalities.pathology.synth import write_cohort, write_slide

COLOUR = EncoderSpec(name="pathology/test-colour", dim=6, input={"size": "tile"}, weights="none", description="test")


class ColourEncoder(Encoder):
    """Mean and std of each channel: instant, and it can be told to die mid-slide like a killed worker."""

    spec = COLOUR
    weights_source = "none"

    def __init__(self) -> None:
        self.calls, self.die_at = 0, None

    def preprocess(self, sample, item_id):
        if not hasattr(sample, "image"):  # the conformance suite also runs this registered test encoder
            raise TypeError(f"{item_id}: pathology/test-colour takes a Tile, got {type(sample).__name__}")
        return sample.image.astype(np.float32) / 255

    def encode(self, inputs):
        self.calls += 1
        if self.die_at is not None and self.calls >= self.die_at:
            raise KeyboardInterrupt("killed mid-slide")
        return np.stack([np.r_[x.mean((0, 1)), x.std((0, 1))] for x in inputs])

    def _compute_fingerprint(self):
        return "colour"


if COLOUR.name not in ENCODERS:
    register_encoder(COLOUR, probe=lambda: None)(lambda weights=None, device="cpu": ColourEncoder())


def test_labels_patient_split_and_unlabelled(tmp_path):
    truth, _ = write_cohort(tmp_path, 8, labels=False)
    write_slide(tmp_path / "extra.tiff", positive=False, seed=50)  # not in labels.csv
    rows = [f"{s},{lab},P{i // 2}" for i, (s, lab) in enumerate(truth.items())]  # two slides per patient
    (tmp_path / "labels.csv").write_text("slide_id,label,patient\n" + "\n".join(rows) + "\n")
    items = open_dataset(f"slides:{tmp_path}", **TILES).items()
    by_slide = {}
    for it in items:
        by_slide.setdefault(it.group, set()).add((it.split, it.labels.get("label"), it.labels.get("patient")))
    assert set(by_slide) == {*truth, "extra"} and all(len(v) == 1 for v in by_slide.values())
    assert by_slide["extra"] == {(None, None, None)}  # embedded, never trained on
    split = {s: next(iter(v))[0] for s, v in by_slide.items() if s != "extra"}
    for i in range(0, 8, 2):  # a patient's slides stay together
        assert split[f"slide{i:03d}"] == split[f"slide{i + 1:03d}"]
    # patients P0..P3 hold one normal and one tumour slide each; at least one patient is held out for testing
    assert {"train", "test"} == set(split.values())
    it = items[0]
    assert (
        it.id == f"{it.group}/{it.labels['x']}_{it.labels['y']}" and it.labels["level"] == 1 and it.labels["mpp"] == 1.0
    )
    tile = open_dataset(f"slides:{tmp_path}", **TILES).load(it)
    assert tile.image.shape == (64, 64, 3) and (tile.x, tile.y) == (it.labels["x"], it.labels["y"])
    with pytest.raises(TypeError, match="unknown options"):
        open_dataset(f"slides:{tmp_path}", tile_size=64, nonsense=1)


def test_corrupt_text_and_blank_slides_are_recorded_failures(tmp_path):
    root = tmp_path / "slides"
    truth, _ = write_cohort(root, 2)
    good = (root / "slide000.tiff").read_bytes()
    (root / "broken.svs").write_bytes(good[:4096])  # a truncated TIFF
    (root / "notes.svs").write_text("not a slide, just a text file with a slide's name\n")
    write_slide(root / "blank.tiff", positive=False, seed=9, blank=True)
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    _, results = embed(f"slides:{root}", db, work, encoder=COLOUR.name)
    failures = {f["id"]: f["error"] for r in results for f in r.failures}
    assert set(failures) == {"broken", "notes", "blank"}, failures
    assert "not a readable slide" in failures["notes"] and "no tissue" in failures["blank"]
    assert "broken" in failures["broken"] and failures["broken"].startswith("broken:")
    stored = VectorStore(db).failures(dataset="slides")
    assert {f["id"] for f in stored} == {"broken", "notes", "blank"}
    feats = load_features(db, COLOUR.name, "slides")
    assert set(bags_from_features(feats).slides) == set(truth) and len(feats.ids) == 32
    with pytest.raises(ItemError, match="notes"):
        open_dataset(f"slides:{root}", **TILES).load(next(it for it in plan_items(root) if it.id == "notes"))


def plan_items(root):
    return open_dataset(f"slides:{root}", **TILES).items()


def test_kill_mid_slide_then_rerun_skips_finished_slides(tmp_path):
    root = tmp_path / "slides"
    write_cohort(root, 3)
    db, work, ref = str(tmp_path / "db"), str(tmp_path / "work"), f"slides:{root}"
    plan = plan_embedding(dataset=ref, encoder=COLOUR.name, db_uri=db, work_dir=work, dataset_name="s", options=TILES)
    assert len(plan.shards) == 3 and plan.pending == 48  # one shard per slide, 16 tiles each
    model = cached_encoder(COLOUR.name, None, "cpu")
    model.calls, model.die_at = 0, None
    embed_shard(shard_path=plan.shards[0], encoder=COLOUR.name, db_uri=db, batch_size=4)
    model.calls, model.die_at = 0, 3  # dies on the 3rd batch of the second slide
    with pytest.raises(KeyboardInterrupt):
        embed_shard(shard_path=plan.shards[1], encoder=COLOUR.name, db_uri=db, batch_size=4)
    ids = load_features(db, COLOUR.name, "s").ids
    assert len(ids) == 16 and {i.split("/")[0] for i in ids} == {"slide000"}  # nothing of the slide in flight

    model.calls, model.die_at = 0, None
    again = plan_embedding(dataset=ref, encoder=COLOUR.name, db_uri=db, work_dir=work, dataset_name="s", options=TILES)
    assert again.skipped == 16 and again.pending == 32 and len(again.shards) == 2
    for p in again.shards:
        embed_shard(shard_path=p, encoder=COLOUR.name, db_uri=db, batch_size=4)
    assert model.calls == 8  # 2 slides x 16 tiles / 4: finished slide000 was not encoded again
    ids = load_features(db, COLOUR.name, "s").ids
    assert len(ids) == len(set(ids)) == 48 and VectorStore(db).count(plan.table) == 48


def test_repeated_slide_ids_are_an_error_naming_the_lines(tmp_path):
    write_cohort(tmp_path, 2, labels=False)
    (tmp_path / "labels.csv").write_text(
        "slide_id,label,patient\nslide000,normal,p1\nslide001,tumor,p2\nslide000,tumor,p9\n"
    )
    with pytest.raises(ValueError, match=r"'slide000' on lines 2, 4"):
        open_dataset(f"slides:{tmp_path}", **TILES).items()


def test_a_folder_named_like_a_slide_and_a_labelled_slide_that_is_missing_are_recorded(tmp_path):
    root = tmp_path / "slides"
    write_cohort(root, 2)
    (root / "folder.svs").mkdir()
    with open(root / "labels.csv", "a") as f:
        f.write("gone,tumor\n")
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    _, results = embed(f"slides:{root}", db, work, encoder=COLOUR.name)
    failures = {f["id"]: f["error"] for r in results for f in r.failures}
    assert set(failures) == {"folder", "gone"}, failures
    assert "not a regular file" in failures["folder"] and "no slide file" in failures["gone"]
    assert {f["id"] for f in VectorStore(db).failures(dataset="slides")} == {"folder", "gone"}
