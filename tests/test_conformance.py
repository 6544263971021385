"""The conformance suite (``embedforge.testing``) over every registered encoder, modality and dataset adapter.

The cases come from the registries (as timm's come from ``list_models()``): the built-ins, the ``tests.fakes``
plugin this session loads, and, in a plugin author's own pytest run, the ``toy`` plugin of
``tests/plugin_modality``. The second half proves every rule can fail: a deliberately broken encoder, modality or
adapter per rule, each refused with a message naming the rule.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedforge.modalities.base import Encoder, ItemError, Series
from embedforge.registry.datasets import DATASETS
from embedforge.registry.encoders import ENCODERS, EncoderEntry
from embedforge.registry.modalities import MODALITIES, Examples, Modality, RawInput
from embedforge.testing import (
    RULES,
    ConformanceError,
    check_adapter,
    check_encoder,
    check_modality,
    clear_caches,
    conformance_tests,
)
from tests.fakes import TINY, ArrayFolder, TinyEncoder, _decode_array, example, example_datasets, example_query

# Real weights of a few hundred MB and more: they run (where cached) only without -m "not slow".
SLOW = (
    "cardiac/csfm-base",
    "pathology/plip",
    "pathology/resnet50-trunc",
    "pathology/uni",
    "timeseries/chronos-bolt-small",
    "timeseries/chronos-bolt-small-diff",
    "timeseries/moment-small",
    "timeseries/moment-small-diff",
    "timeseries/tirex",
    "timeseries/tirex-diff",
    "video/clip-vit-b-16",
    "video/clip-vit-b-32",
    "video/clip-vit-l-14",
)

test_encoder, test_modality, test_adapter = conformance_tests(slow=SLOW)


@pytest.fixture(autouse=True, scope="module")
def _free_builds():
    """The suite keeps each built encoder for the module; later modules get the memory back."""
    yield
    clear_caches()


# ---------------------------------------------------------------- a plugin author's own test run


PLUGIN_SRC = Path(__file__).parent / "plugin_modality"
PLUGIN_TESTS = """
from embedforge.testing import conformance_tests

test_encoder, test_modality, test_adapter = conformance_tests(modalities=["toy"])
"""


def test_a_plugin_authors_test_module_runs_the_suite_on_the_plugin(tmp_path):
    """The toy plugin installed by entry point, its own two-line test module, a plain ``pytest`` run."""
    site = tmp_path / "site"
    shutil.copytree(PLUGIN_SRC / "toyplugin", site / "toyplugin")
    info = site / "toyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[embedforge.plugins]\ntoy = toyplugin:register\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_toy_conformance.py").write_text(PLUGIN_TESTS)
    env = {k: v for k, v in os.environ.items() if k not in ("EMBEDFORGE_PLUGINS", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rs", "-p", "no:cacheprovider", "test_toy_conformance.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "3 passed" in out and "skipped" not in out, out
    for case in ("test_encoder[toy/stats] PASSED", "test_modality[toy] PASSED", "test_adapter[toyfolder] PASSED"):
        assert case in out, out


# ---------------------------------------------------------------- every rule can fail


NEG = "conformance-neg"


@contextlib.contextmanager
def registered(registry, name: str, entry):
    """``entry`` under ``name`` for the block only (the registries are process-wide)."""
    registry.register(name, entry)
    try:
        yield entry
    finally:
        registry._entries.pop(name, None)
        clear_caches()


def neg_modality(**changes) -> contextlib.ExitStack:
    """A complete modality ``conformance-neg`` (arrays adapter, tiny encoder, examples) with ``changes`` applied."""
    entry = Modality(
        name=NEG,
        sample_type=Series,
        adapters=("negarrays",),
        read_query=lambda path: Series(np.load(path, allow_pickle=False)),
        raw_input=RawInput(column="series", decode=_decode_array, suffix=".npy"),
        query_suffixes=(".npy",),
        examples=Examples(
            example, example_query, lambda folder: {"negarrays": "neg" + example_datasets(folder)["arrays"]}
        ),
    )
    entry = dataclasses.replace(entry, **changes)
    stack = contextlib.ExitStack()
    stack.enter_context(registered(MODALITIES, NEG, entry))
    stack.enter_context(registered(DATASETS, "negarrays", lambda arg, **opts: NegFolder(arg)))
    stack.enter_context(registered(ENCODERS, f"{NEG}/tiny", EncoderEntry(NEG_TINY, NegTiny, lambda: None)))
    return stack


NEG_TINY = dataclasses.replace(TINY, name=f"{NEG}/tiny")


class NegTiny(TinyEncoder):
    spec = NEG_TINY

    def __init__(self, weights=None, device="cpu") -> None:
        super().__init__()


class NegFolder(ArrayFolder):
    modality = NEG


def broken_encoder(attrs: dict | None = None, **methods) -> Encoder:
    """TinyEncoder with some methods (and instance attributes) replaced; its spec is still test/tiny's."""
    enc = type("Broken", (TinyEncoder,), methods)()
    for key, value in (attrs or {}).items():
        setattr(enc, key, value)
    return enc


def wrong_dim(self, inputs):
    return np.zeros((len(inputs), TINY.dim + 1), np.float32)


def as_float64(self, inputs):
    return TinyEncoder.encode(self, inputs).astype(np.float64)


def with_nan(self, inputs):
    out = TinyEncoder.encode(self, inputs)
    out[:, 0] = np.nan
    return out


def batch_centred(self, inputs):
    out = TinyEncoder.encode(self, inputs)
    return out - out.mean(axis=0) + 1.0


def constant(self, inputs):
    return np.ones((len(inputs), TINY.dim), np.float32)


def no_type_check(self, sample, item_id):
    return np.asarray(sample.values, np.float32)


def accepts_anything(self, sample, item_id):
    return np.zeros(5, np.float32)


def empty_type_error(self, sample, item_id):
    raise TypeError("")


def other_dim_identity(self):
    return {**Encoder.identity(self), "dim": TINY.dim + 1}


def build_returns_a_dict(weights=None, device="cpu"):
    return {"not": "an encoder"}


class TableFolder(NegFolder):
    """Overridable items/load for the adapter rules."""


def dev_split(self):
    return [dataclasses.replace(it, split="dev") for it in NegFolder.items(self)]


def duplicate_ids(self):
    items = NegFolder.items(self)
    return [*items, items[0]]


def loads_an_array(self, item):
    return np.load(item.uri)


class WrongModality(NegFolder):
    modality = "test"


def folder_factory(cls, **methods):
    kind = type("Adapter", (cls,), methods)
    return lambda arg, **opts: kind(arg)


def decode_doubles(data, name):
    s = _decode_array(data, name)
    return Series(s.values * 2)


def decode_anything(data, name):
    return Series(np.zeros(3, np.float32))


def missing_file_keyerror(path):
    raise KeyError(path)


def example_of_wrong_type(seed):
    return np.zeros(4)


@contextlib.contextmanager
def neg_adapter(factory):
    with neg_modality():
        DATASETS._entries["negarrays"] = factory
        yield


# (rule, what is broken, the check that must refuse it)
BROKEN = [
    ("encoder-spec", "spec named unlike its key", lambda: _alias_check()),
    ("encoder-spec", "namespace of no modality", lambda: _orphan_check()),
    ("encoder-build", "factory returns a dict", lambda: _build_check(build_returns_a_dict)),
    (
        "encoder-output",
        "one extra column",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(encode=wrong_dim)),
    ),
    ("encoder-output", "float64", lambda: check_encoder("test/tiny", encoder=broken_encoder(encode=as_float64))),
    ("encoder-output", "NaN", lambda: check_encoder("test/tiny", encoder=broken_encoder(encode=with_nan))),
    (
        "batch-independence",
        "centred on the batch mean",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(encode=batch_centred)),
    ),
    (
        "distinct-inputs",
        "constant vectors",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(encode=constant)),
    ),
    (
        "identity",
        "identity dim differs from the spec",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(identity=other_dim_identity)),
    ),
    (
        "identity",
        "empty weights_source",
        lambda: check_encoder("test/tiny", encoder=broken_encoder({"weights_source": ""})),
    ),
    (
        "wrong-sample-type",
        "AttributeError on a foreign sample",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(preprocess=no_type_check)),
    ),
    (
        "wrong-sample-type",
        "a foreign sample encoded",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(preprocess=accepts_anything)),
    ),
    (
        "wrong-sample-type",
        "TypeError without a message",
        lambda: check_encoder("test/tiny", encoder=broken_encoder(preprocess=empty_type_error)),
    ),
    ("modality-entry", "an unregistered adapter", lambda: _modality_check(adapters=("negarrays", "nowhere"))),
    ("modality-entry", "an unregistered head", lambda: _modality_check(default_heads=("classify/nope",))),
    ("example-sample", "examples give arrays", lambda: _modality_check(examples=Examples(example_of_wrong_type))),
    (
        "raw-decode-agrees",
        "the decoder doubles the values",
        lambda: _modality_check(raw_input=RawInput(column="series", decode=decode_doubles, suffix=".npy")),
    ),
    (
        "raw-decode-rejects",
        "the decoder accepts garbage",
        lambda: _modality_check(raw_input=RawInput(column="series", decode=decode_anything, suffix=".npy")),
    ),
    ("query-missing-file", "KeyError for a missing file", lambda: _modality_check(read_query=missing_file_keyerror)),
    ("adapter-declared", "declared by no modality", lambda: _undeclared_check()),
    ("adapter-open", "dataset of another modality", lambda: _adapter_check(folder_factory(WrongModality))),
    ("adapter-items", "duplicate item ids", lambda: _adapter_check(folder_factory(TableFolder, items=duplicate_ids))),
    ("adapter-splits", "split 'dev'", lambda: _adapter_check(folder_factory(TableFolder, items=dev_split))),
    ("adapter-load", "load returns an array", lambda: _adapter_check(folder_factory(TableFolder, load=loads_an_array))),
]


def _alias_check():
    with registered(ENCODERS, "test/alias", EncoderEntry(TINY, lambda weights=None, device="cpu": TinyEncoder(), _ok)):
        check_encoder("test/alias")


def _orphan_check():
    spec = dataclasses.replace(TINY, name="nomodality/tiny")
    with registered(ENCODERS, spec.name, EncoderEntry(spec, lambda weights=None, device="cpu": TinyEncoder(), _ok)):
        check_encoder(spec.name)


def _build_check(factory):
    with neg_modality():
        ENCODERS._entries[f"{NEG}/tiny"] = EncoderEntry(NEG_TINY, factory, _ok)
        check_encoder(f"{NEG}/tiny")


def _modality_check(**changes):
    with neg_modality(**changes):
        check_modality(NEG)


def _undeclared_check():
    with registered(DATASETS, "undeclared", lambda arg, **opts: ArrayFolder(arg)):
        check_adapter("undeclared")


def _adapter_check(factory):
    with neg_adapter(factory):
        check_adapter("negarrays")


def _ok():
    return None


@pytest.mark.parametrize("rule, broken, run", BROKEN, ids=[f"{r}:{b}" for r, b, _ in BROKEN])
def test_each_rule_refuses_what_breaks_it(rule, broken, run):
    with pytest.raises(ConformanceError) as err:
        run()
    assert rule in err.value.rules, str(err.value)
    assert f"[{rule}]" in str(err.value) and RULES[rule] in str(err.value)


def test_every_rule_has_a_case_that_breaks_it():
    assert {rule for rule, _, _ in BROKEN} == set(RULES)


def test_the_unbroken_negative_modality_passes():
    """The fixtures above break one thing each: unbroken, the same modality, adapter and encoder conform."""
    with neg_modality():
        check_modality(NEG)
        check_adapter("negarrays")
        check_encoder(f"{NEG}/tiny")


def test_a_modality_without_examples_is_skipped_with_the_reason():
    with neg_modality(examples=None), pytest.raises(pytest.skip.Exception, match=r"declares no Modality\.examples"):
        check_modality(NEG)


def test_an_encoder_whose_weights_are_absent_is_skipped_with_the_probe_reason():
    with neg_modality():
        ENCODERS._entries[f"{NEG}/tiny"] = EncoderEntry(NEG_TINY, NegTiny, lambda: "weights gated: pass a checkpoint")
        with pytest.raises(pytest.skip.Exception, match="weights gated: pass a checkpoint"):
            check_encoder(f"{NEG}/tiny")


def test_item_error_for_a_foreign_sample_must_name_the_item():
    def vague(self, sample, item_id):
        raise ItemError("bad input")

    with pytest.raises(ConformanceError, match="does not name the item"):
        check_encoder("test/tiny", encoder=broken_encoder(preprocess=vague))
