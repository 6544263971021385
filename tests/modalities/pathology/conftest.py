"""Synthetic slide cohorts embedded once per session with the real EfficientNet-Lite0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.modalities.pathology.synth import write_cohort

ENCODER = "pathology/efficientnet-lite0"
# 64-px tiles at 1 um/px (read from level 1 of a 0.5 um/px slide); small tissue blocks kept (CLAM's a_t, in
# 512 x 512 level-0 patches, lowered from the biopsy preset's 1).
TILES = {"tile_size": "64", "mpp": "1.0", "a_t": "0.25"}


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


def embed(ref: str, db: str, work: str, encoder: str = ENCODER, options: dict | None = None, name: str = "slides"):
    """Plan, then embed every shard (one per slide) through the real embed tasks."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    options = TILES if options is None else options
    plan = plan_embedding(dataset=ref, encoder=encoder, db_uri=db, work_dir=work, dataset_name=name, options=options)
    results = [embed_shard(shard_path=p, encoder=encoder, db_uri=db, batch_size=32) for p in plan.shards]
    return plan, results


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, list]]:
    """20 slides (half with 2 tumour tiles among 16), labels by patient, no split column, tiling.json; + tumours."""
    root = tmp_path_factory.mktemp("cohort")
    (root / "tiling.json").write_text(json.dumps(TILES))  # every command (the leaderboard too) tiles it this way
    return (root, *write_cohort(root, 20, seed=1))


@pytest.fixture(scope="session")
def cohort_db(cohort, tmp_path_factory) -> str:
    """The cohort's tiles embedded with EfficientNet-Lite0 (once for the session), under the leaderboard's name."""
    from embedforge.tasks.embed import dataset_name_for

    tmp, ref = tmp_path_factory.mktemp("cohort-db"), f"slides:{cohort[0]}"
    _, results = embed(ref, str(tmp / "db"), str(tmp / "work"), options={}, name=dataset_name_for(ref, None))
    assert not [f for r in results for f in r.failures]
    return str(tmp / "db")


def cohort_name(cohort) -> str:
    from embedforge.tasks.embed import dataset_name_for

    return dataset_name_for(f"slides:{cohort[0]}", None)
