"""TiRex picks its fused CUDA kernels only on a GPU with the xlstm package; the torch backend otherwise."""

import sys

from embedforge.modalities.timeseries.forecast import tirex_backend


def test_cpu_always_uses_the_torch_backend():
    assert tirex_backend("cpu") == "torch"


def test_cuda_uses_the_kernels_when_xlstm_is_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("TIREX_NO_CUDA", raising=False)
    if "xlstm" not in sys.modules:
        assert tirex_backend("cuda") == ("cuda" if _installed() else "torch")
    (tmp_path / "xlstm").mkdir()
    (tmp_path / "xlstm" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert tirex_backend("cuda") == "cuda" and tirex_backend("cuda:1") == "cuda"
    monkeypatch.setenv("TIREX_NO_CUDA", "1")
    assert tirex_backend("cuda") == "torch"


def _installed() -> bool:
    from importlib.util import find_spec

    return find_spec("xlstm") is not None
