"""Device auto, the torch thread cap, and the CPU parity an accelerator's vectors must hold to share a table."""

import numpy as np
import pytest

from embedforge.modalities import runtime
from embedforge.modalities.runtime import ParityError, cosine_rows, parity, parity_gate, resolve_device
from tests.fakes import TinyEncoder


def series(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(50 + 10 * i).astype(np.float32) for i in range(n)]


class Noisy(TinyEncoder):
    """The same encoder with a perturbation the size of a precision bug (cosine ~0.999, not 0.9999)."""

    def encode(self, inputs):
        out = super().encode(inputs)
        return out + 0.04 * np.abs(out).mean() * np.random.default_rng(1).standard_normal(out.shape)


def test_auto_resolves_to_the_available_device():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"


def test_threads_follow_the_setting(monkeypatch):
    import torch

    monkeypatch.setenv("EMBEDFORGE_TORCH_THREADS", "1")
    before = torch.get_num_threads()
    try:
        assert runtime.cap_torch_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_threads_share_the_cores_among_concurrent_shards(monkeypatch):
    import os

    from embedforge.registry import runtime as reg

    monkeypatch.delenv("EMBEDFORGE_TORCH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert [reg.torch_threads(n) for n in (1, 2, 4, 16, 64)] == [16, 8, 4, 1, 1]  # never threads x shards > cores
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # a user who asked the process for fewer gets no more
    assert [reg.torch_threads(n) for n in (1, 2, 4, 16)] == [4, 4, 4, 1]
    monkeypatch.setenv("EMBEDFORGE_TORCH_THREADS", "3")
    assert reg.torch_threads(4) == 3  # an explicit setting wins


def test_a_shard_records_the_threads_it_ran_with(tmp_path, arrays_dir, monkeypatch):
    import json
    import os
    from pathlib import Path

    import torch

    from embedforge.tasks.embed import embed_shard, plan_embedding

    monkeypatch.delenv("EMBEDFORGE_TORCH_THREADS", raising=False)
    plan = plan_embedding(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=str(tmp_path / "db"),
                          work_dir=str(tmp_path / "work"), shard_size=64)  # fmt: skip
    before = torch.get_num_threads()
    try:
        out = embed_shard(shard_path=plan.shards[0], encoder="test/tiny", db_uri=str(tmp_path / "db"), concurrent=2)
        want = max(1, len(os.sched_getaffinity(0)) // 2)
        assert out.threads == want == torch.get_num_threads()
        assert json.loads(Path(plan.shards[0] + ".result").read_text())["threads"] == want
    finally:
        torch.set_num_threads(before)


def test_parity_holds_for_the_same_model_and_fails_for_a_drifted_one():
    x = series()
    assert parity(TinyEncoder(0), TinyEncoder(0), x) == pytest.approx(1.0)
    worst = float(cosine_rows(Noisy(0).encode(x), TinyEncoder(0).encode(x)).min())
    assert 0.99 < worst < 0.9999
    with pytest.raises(ParityError, match=r"cosine 0\.99\d+ < 0\.9999"):
        parity(Noisy(0), TinyEncoder(0), x)


def test_gate_checks_accelerators_once_and_trusts_the_cpu():
    built = []

    def reference():
        built.append(1)
        return TinyEncoder(0)

    assert parity_gate(("t", "cpu"), "cpu", Noisy(0), reference, series) is None and not built
    assert parity_gate(("t-ok", "cuda"), "cuda", TinyEncoder(0), reference, series) == pytest.approx(1.0)
    assert parity_gate(("t-ok", "cuda"), "cuda", TinyEncoder(0), reference, series) == pytest.approx(1.0)
    assert len(built) == 1  # once per process and (table, device)
    with pytest.raises(ParityError):
        parity_gate(("t-bad", "cuda"), "cuda", Noisy(0), reference, series)


def test_auto_device_without_gpu_device_nodes_does_not_import_torch():
    """Asking torch whether CUDA is there costs 1.5-2 s of every command; /dev tells first that it cannot be."""
    import subprocess
    import sys

    probe = (
        "import sys; from embedforge.registry import runtime; runtime.gpu_device_nodes = lambda: False; "
        "print(runtime.resolve_device('auto'), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["cpu", "False"], out.stdout + out.stderr
    from embedforge.registry import runtime

    if not runtime.gpu_device_nodes():  # this machine has no GPU: auto must say cpu
        assert runtime.resolve_device("auto") == "cpu"
    assert runtime.resolve_device("cuda:1") == "cuda:1"
