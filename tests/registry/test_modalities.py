"""The modality contract: each built-in declares itself once, plugins load by entry point, no other name lists."""

import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from embedforge.registry import catalog
from embedforge.registry.datasets import DATASETS
from embedforge.registry.encoders import ENCODERS
from embedforge.registry.heads import HEADS
from embedforge.registry.modalities import MODALITIES, modality, modality_names, modality_of_encoder, read_query

REPO = Path(__file__).parents[2]
BUILTIN = ("speech", "timeseries", "cardiac")


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_modality_entries_are_complete(name):
    m = modality(name)
    assert m.name == name and isinstance(m.sample_type, type)
    assert m.adapters and all(kind in DATASETS for kind in m.adapters)
    assert m.read_query is not None and m.raw_input is not None and m.raw_input.column
    assert m.default_heads and all(head in HEADS for head in m.default_heads)
    assert ENCODERS.names(f"{name}/"), f"no {name}/* encoder"
    assert modality_of_encoder(ENCODERS.names(f"{name}/")[0]) is m


def test_default_adapters_are_the_documented_ones():
    assert {n: modality(n).default_adapter for n in BUILTIN} == {
        "speech": "voxceleb",
        "timeseries": "ucr",
        "cardiac": "ecgsim",
    }
    assert set(BUILTIN) <= set(modality_names())


def test_read_query_for_a_modality_without_a_reader_is_a_clear_error(tmp_path):
    from embedforge.registry.modalities import Modality

    MODALITIES.register("noreader", Modality(name="noreader", sample_type=object, adapters=("arrays",)))
    try:
        with pytest.raises(ValueError, match="'noreader' has no query reader"):
            read_query("noreader", str(tmp_path / "x"))
    finally:
        MODALITIES._entries.pop("noreader")


def test_entry_point_module_and_callable_values_load_once(monkeypatch):
    import sys
    import types

    calls = []
    module = types.ModuleType("fakeplugin_mod")
    module.register = lambda: calls.append("called")
    monkeypatch.setitem(sys.modules, "fakeplugin_mod", module)
    as_module = EntryPoint(name="m", value="fakeplugin_mod", group=catalog.PLUGIN_GROUP)
    as_callable = EntryPoint(name="c", value="fakeplugin_mod:register", group=catalog.PLUGIN_GROUP)
    monkeypatch.setattr(catalog, "plugin_entry_points", lambda: [as_module, as_callable])
    catalog.load_catalog(rescan=True)
    catalog.load_catalog(rescan=True)
    assert calls == ["called"]  # the module imported; the callable called once, not per load


def test_a_failing_plugin_names_itself(monkeypatch):
    broken = EntryPoint(name="broken", value="no_such_module_xyz:register", group=catalog.PLUGIN_GROUP)
    monkeypatch.setattr(catalog, "plugin_entry_points", lambda: [broken])
    with pytest.raises(ImportError, match=r"plugin 'broken' \(no_such_module_xyz:register\) failed to load"):
        catalog.load_catalog(rescan=True)


def test_settings_plugins_override_is_read_through_settings(monkeypatch):
    monkeypatch.setenv("EMBEDFORGE_PLUGINS", " tests.fakes , json ")
    assert catalog.plugin_modules() == ("tests.fakes", "json")


def test_settings_plugins_take_module_function_and_name_a_failure(monkeypatch):
    import types

    calls = []
    module = types.ModuleType("embedforge_test_plugin_fn")
    module.register = lambda: calls.append("registered")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setenv("EMBEDFORGE_PLUGINS", f"{module.__name__}:register")
    catalog.load_catalog()
    catalog.load_catalog()
    assert calls == ["registered"]  # called once, like an entry point's callable
    monkeypatch.setenv("EMBEDFORGE_PLUGINS", "no_such_module_xyz:register")
    with pytest.raises(ImportError, match=r"plugin 'no_such_module_xyz:register' .* failed to load: No module named"):
        catalog.load_catalog()


def test_no_list_of_modality_names_outside_the_modalities():
    """Two built-in modality names quoted on one line of flows/, tasks/, registry/ or infra/ code is a name list."""
    names = "|".join(BUILTIN)
    pattern = re.compile(rf"[\"']({names})[\"']")
    offenders = []
    for folder in ("flows", "tasks", "registry", "infra"):
        for path in (REPO / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if len(set(pattern.findall(line))) >= 2:
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_cardiac_defaults_score_heart_rate_on_its_default_adapter():
    from embedforge.registry.datasets import open_dataset
    from embedforge.registry.heads import head_task

    m = modality("cardiac")
    assert {head_task(h) for h in m.default_heads} == {"regression"}
    item = open_dataset(f"{m.default_adapter}:2").items()[0]
    assert isinstance(item.labels[m.default_target], float)
