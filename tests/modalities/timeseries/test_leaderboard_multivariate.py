"""A multivariate set through the leaderboard with a (random-weight) TiRex: channels, diff and stats combine."""

import pytest

from embedforge.flows.benchmark import run_benchmark
from embedforge.flows.params import BenchmarkParams
from embedforge.tasks.resolve import recipe_for
from embedforge.tasks.store import VectorStore, table_name


def test_recipe_builds_channelwise_encoders_for_multivariate_sets():
    assert recipe_for(encoder="timeseries/tirex", ref="ucr:BasicMotions") == {"channels": "6"}
    assert recipe_for(encoder="timeseries/tirex", ref="ucr:GunPoint") == {}
    assert recipe_for(encoder="timeseries/minirocket", ref="ucr:BasicMotions") == {}


@pytest.mark.slow
def test_basicmotions_with_tirex_diff_and_stats(prefect_harness, tirex_dir, tmp_path):
    params = BenchmarkParams(
        encoders=["timeseries/tirex"],
        datasets=["BasicMotions"],
        augment=["diff", "stats"],
        heads=["classify/logreg"],
        weights={"timeseries/tirex": str(tirex_dir)},
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
    )
    rows = run_benchmark(params)["rows"]
    assert sorted(r["augmentation"] for r in rows) == ["diff", "diff+stats", "none", "stats"]
    assert all(r["n_train"] == 40 and r["n_test"] == 40 for r in rows)
    store = VectorStore(str(tmp_path / "db"))
    base = table_name("timeseries/tirex", str(tirex_dir), {"channels": "6"})
    diff = table_name("timeseries/tirex-diff", str(tirex_dir), {"channels": "6"})
    assert store.count(base) == 80 and store.count(diff) == 80
    assert store.identity(diff)["dim"] == 2 * store.identity(base)["dim"]
