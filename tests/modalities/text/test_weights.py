"""The packaged all-MiniLM-L6-v2: extracted once under EMBEDFORGE_HOME, verified on every use."""

import pytest

from embedforge.modalities.text import weights


def test_extracted_once_and_verified(tmp_path):
    first = weights.packaged_dir(tmp_path)
    assert (first / "model.safetensors").is_file() and (first / "modules.json").is_file()
    stamp = (first / weights.MANIFEST).stat().st_mtime_ns
    assert weights.packaged_dir(tmp_path) == first
    assert (first / weights.MANIFEST).stat().st_mtime_ns == stamp  # not extracted again
    (first / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    with pytest.raises(ValueError, match="changed since it was extracted"):
        weights.packaged_dir(tmp_path)


def test_resolve_sources(tmp_path):
    folder, source = weights.resolve(str(tmp_path))
    assert folder == tmp_path.resolve() and source == str(tmp_path.resolve())
    with pytest.raises(FileNotFoundError):
        weights.resolve(str(tmp_path / "missing"))
    assert weights.resolve(None)[1] == weights.PACKAGED
    assert weights.probe() is None
