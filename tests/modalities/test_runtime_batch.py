"""The embed batch size follows the device unless given: small on shared CPU cores, larger to keep a GPU busy."""

from embedforge.flows.params import EmbedParams
from embedforge.modalities.runtime import ACCELERATOR_BATCH, CPU_BATCH, resolve_batch


def test_default_batch_follows_the_device_and_an_explicit_one_wins():
    assert resolve_batch(None, "cpu") == CPU_BATCH == 16
    assert resolve_batch(None, "cuda:1") == resolve_batch(None, "mps") == ACCELERATOR_BATCH
    assert resolve_batch(8, "cuda") == 8 and resolve_batch(200, "cpu") == 200
    assert EmbedParams(dataset="arrays:/x", encoder="test/tiny").batch_size is None  # resolved by the flow


def test_the_flow_records_the_batch_size_it_used(prefect_harness, arrays_dir, tmp_path):
    from embedforge.flows.embed import run_embed

    summary = run_embed(EmbedParams(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db=str(tmp_path / "db")))
    assert summary["device"] == "cpu" and summary["batch_size"] == CPU_BATCH and summary["embedded"] == 12
