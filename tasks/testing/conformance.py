"""The conformance checks: every registered encoder, modality and dataset adapter against its contract.

Each check raises :class:`ConformanceError` (an ``AssertionError``, so pytest reports a failure) naming every
rule the subject breaks, or calls ``pytest.skip`` with the reason it cannot be exercised here (weights that are
not on this machine, a modality that declares no ``Examples``, an adapter without an offline example dataset).

Material comes from each modality's own ``Modality.examples``: samples, a query file, small synthetic datasets,
written once per process under one temporary folder. Encoders are built once per process (keyed by name, entry,
weights and options), so running every check of a module costs one build per encoder.
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedforge.modalities.base import SPLITS, Dataset, Encoder, Item, ItemError
from embedforge.registry.catalog import load_catalog
from embedforge.registry.datasets import DATASETS, open_dataset
from embedforge.registry.encoders import ENCODERS, EncoderEntry, build_encoder
from embedforge.registry.heads import HEADS
from embedforge.registry.modalities import MODALITIES, Examples, Modality

ALLOWED_SPLITS: tuple[str | None, ...] = (*SPLITS, None)
RTOL, ATOL = 1e-4, 1e-5  # batch independence: atol scales with the vectors' largest magnitude
WRONG_ID = "conformance-wrong-type"
GARBAGE = b"\x00\x01conformance: not a file of any modality\x00\xfe"

RULES: dict[str, str] = {
    # encoders
    "encoder-spec": "registered under its spec's name, '<modality>/<model>' of a registered modality, dim > 0",
    "encoder-build": "the factory returns an Encoder whose spec names the registered encoder",
    "encoder-output": "encode of n preprocessed samples is an (n, dim) float32 array, all finite",
    "batch-independence": "a sample's vector does not depend on its batch mates (encode([a, b]) == [a], [b])",
    "distinct-inputs": "two different samples do not get the same vector",
    "identity": "identity() names the encoder, its dim, fingerprint (stable) and weights_source",
    "wrong-sample-type": "a sample of another type fails with ItemError/TypeError/ValueError and a message",
    # modalities
    "modality-entry": "registered under its name; sample type, registered adapters, heads and encoders",
    "example-sample": "Examples.sample gives the modality's sample type",
    "raw-decode-agrees": "raw_input.decode of a query file's bytes equals read_query of the file",
    "raw-decode-rejects": "raw_input.decode of garbage raises an ItemError naming the input",
    "query-missing-file": "read_query of a missing file raises ItemError/OSError/ValueError, not another error",
    # dataset adapters
    "adapter-declared": "a registered dataset adapter is declared by exactly one modality",
    "adapter-open": "the adapter opens its example dataset as a Dataset of its modality",
    "adapter-items": "items() is a non-empty list of Items with unique ids, content hashes and label dicts",
    "adapter-splits": f"every item's split is one of {ALLOWED_SPLITS}",
    "adapter-load": "load(item) returns the modality's sample type",
}


class ConformanceError(AssertionError):
    """One subject (``encoder 'speech/ge2e'``) broke one or more rules; ``rules`` lists them, the message explains."""

    def __init__(self, subject: str, problems: list[tuple[str, str]]) -> None:
        self.subject, self.problems = subject, problems
        self.rules = list(dict.fromkeys(rule for rule, _ in problems))
        lines = [f"  [{rule}] {detail}  (rule: {RULES.get(rule, '')})" for rule, detail in problems]
        super().__init__(f"{subject} breaks conformance rule(s) {', '.join(self.rules)}:\n" + "\n".join(lines))


class ForeignSample:
    """A sample of no modality: what an encoder gets when a caller mixes modalities up."""

    def __repr__(self) -> str:
        return "ForeignSample()"


class _Findings:
    """Problems collected over one subject; ``done`` raises them together."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.problems: list[tuple[str, str]] = []

    def fail(self, rule: str, detail: str) -> None:
        self.problems.append((rule, detail))

    def check(self, ok: bool, rule: str, detail: str) -> bool:
        if not ok:
            self.fail(rule, detail)
        return ok

    def done(self) -> None:
        if self.problems:
            raise ConformanceError(self.subject, self.problems)


# ---------------------------------------------------------------- names and parameters (collection time)


def _selected(modalities: Iterable[str] | None) -> list[str]:
    load_catalog()
    names = MODALITIES.names()
    if modalities is None:
        return names
    wanted = list(modalities)
    for name in wanted:
        MODALITIES.get(name)  # an unknown name fails here, with the registry's suggestions
    return [n for n in names if n in wanted]


def modality_names(modalities: Iterable[str] | None = None) -> list[str]:
    """Registered modalities (all, or those named), catalog and plugins loaded."""
    return _selected(modalities)


def encoder_names(modalities: Iterable[str] | None = None) -> list[str]:
    """Registered encoders of the selected modalities; with none selected, every encoder (orphans included)."""
    selected = _selected(modalities)
    if modalities is None:
        return ENCODERS.names()
    return [n for n in ENCODERS.names() if n.split("/", 1)[0] in selected]


def adapter_names(modalities: Iterable[str] | None = None) -> list[str]:
    """Adapters the selected modalities declare; with none selected, every registered adapter."""
    selected = _selected(modalities)
    if modalities is None:
        return DATASETS.names()
    return sorted({kind for n in selected for kind in MODALITIES.get(n).adapters})


def _params(names: Sequence[str], slow: Iterable[str] = ()) -> list[Any]:
    heavy = set(slow)
    return [pytest.param(n, id=n, marks=[pytest.mark.slow] if n in heavy else []) for n in names]


def encoder_params(modalities: Iterable[str] | None = None, slow: Iterable[str] = ()) -> list[Any]:
    """``pytest.param`` per encoder (id = its name); those in ``slow`` carry ``pytest.mark.slow``."""
    return _params(encoder_names(modalities), slow)


def modality_params(modalities: Iterable[str] | None = None) -> list[Any]:
    return _params(modality_names(modalities))


def adapter_params(modalities: Iterable[str] | None = None) -> list[Any]:
    return _params(adapter_names(modalities))


def conformance_tests(modalities: Iterable[str] | None = None, slow: Iterable[str] = ()):
    """Three parametrized pytest functions, ``(test_encoder, test_modality, test_adapter)``, for a test module::

    from embedforge.testing import conformance_tests

    test_encoder, test_modality, test_adapter = conformance_tests(modalities=["toy"])
    """
    chosen = None if modalities is None else list(modalities)

    @pytest.mark.parametrize("name", encoder_params(chosen, slow))
    def test_encoder(name: str) -> None:
        check_encoder(name)

    @pytest.mark.parametrize("name", modality_params(chosen))
    def test_modality(name: str) -> None:
        check_modality(name)

    @pytest.mark.parametrize("kind", adapter_params(chosen))
    def test_adapter(kind: str) -> None:
        check_adapter(kind)

    return test_encoder, test_modality, test_adapter


# ---------------------------------------------------------------- material: one workspace per process


_WORKSPACE: list[Path] = []
_DATASET_REFS: dict[tuple[str, int], dict[str, tuple[str, dict[str, Any]]]] = {}
_BUILT: dict[tuple, Encoder] = {}


def workspace() -> Path:
    """The process's scratch folder for example files (removed at exit)."""
    if not _WORKSPACE:
        path = Path(tempfile.mkdtemp(prefix="embedforge-conformance-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _WORKSPACE.append(path)
    return _WORKSPACE[0]


def _folder(*parts: str) -> Path:
    path = workspace().joinpath(*(p.replace("/", "_") for p in parts))
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_caches() -> None:
    """Forget built encoders and written datasets (the files stay until exit)."""
    _BUILT.clear()
    _DATASET_REFS.clear()


def example_datasets(name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{adapter: (ref, options)}`` of the modality's example datasets, written once per process."""
    entry = MODALITIES.get(name)
    key = (name, id(entry))
    if key not in _DATASET_REFS:
        ex = entry.examples
        refs = ex.datasets(str(_folder("datasets", name))) if ex is not None and ex.datasets is not None else {}
        _DATASET_REFS[key] = {k: (v, {}) if isinstance(v, str) else (v[0], dict(v[1])) for k, v in refs.items()}
    return _DATASET_REFS[key]


def _examples(entry: Modality, what: str) -> Examples:
    if entry.examples is None:
        pytest.skip(
            f"modality {entry.name!r} declares no Modality.examples, so its {what} cannot be exercised offline "
            "(see embedforge.registry.modalities.Examples)"
        )
    return entry.examples


def build_cached(name: str, weights: str | None = None, **options: Any) -> Encoder:
    """``build_encoder`` once per (name, registered entry, weights, options) in this process."""
    key = (name, id(ENCODERS.get(name)), weights, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _BUILT:
        _BUILT[key] = build_encoder(name, weights=weights, **options)
    return _BUILT[key]


# ---------------------------------------------------------------- comparisons


def same_content(a: Any, b: Any, where: str = "sample") -> str | None:
    """None when two samples hold the same content, else where they first differ.

    Dataclasses compare field by field, arrays by shape and value (NaN equals NaN), a path string against bytes
    by the file's bytes (a query file read lazily against the same bytes decoded in memory).
    """
    if isinstance(a, bytes) and isinstance(b, str):
        a, b = b, a
    if isinstance(a, str) and isinstance(b, bytes):
        path = Path(a)
        if path.is_file() and path.read_bytes() == b:
            return None
        return f"{where}: path {a!r} does not hold the {len(b)} bytes of the other"
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            diff = same_content(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
            if diff:
                return diff
        return None
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return f"{where}: shape {a.shape} vs {b.shape}"
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            ok = np.allclose(a, b, rtol=1e-6, atol=1e-7, equal_nan=True)
        else:
            ok = np.array_equal(a, b)
        return None if ok else f"{where}: values differ (max |diff| {np.max(np.abs(a.astype(float) - b)):.3g})"
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = same_content(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            diff = same_content(a[k], b[k], f"{where}[{k!r}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"


# ---------------------------------------------------------------- encoders


def check_encoder(
    name: str,
    *,
    encoder: Encoder | None = None,
    samples: Sequence[Any] | None = None,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build (once per process) and exercise one registered encoder; returns its identity.

    ``encoder`` checks an already-built encoder under the registered ``name`` (its spec must still be
    registered); ``samples`` (two or more different raw samples) replace the modality's examples; ``weights`` and
    ``options`` go to the factory. Without weights, an encoder whose probe gives a reason is skipped with it, and
    one fit on data (``"fit"`` in its spec's input) is fit on the modality's first example dataset. The vectors'
    dim is ``identity()["dim"]``, which must equal the registered spec's dim unless ``options`` are given.
    """
    found = _Findings(f"encoder {name!r}")
    load_catalog()
    entry: EncoderEntry = ENCODERS.get(name)
    spec = entry.spec
    modality_name, _, model_name = name.partition("/")
    found.check(spec.name == name, "encoder-spec", f"registered as {name!r} but its spec is named {spec.name!r}")
    found.check(bool(model_name), "encoder-spec", f"{name!r} is not '<modality>/<model>'")
    found.check(
        modality_name in MODALITIES, "encoder-spec", f"its modality {modality_name!r} is not a registered modality"
    )
    found.check(
        isinstance(spec.dim, int) and spec.dim > 0, "encoder-spec", f"spec.dim must be a positive int, not {spec.dim!r}"
    )
    found.done()
    modality = MODALITIES.get(modality_name)

    if samples is None:
        ex = _examples(modality, "encoders")
        samples = [ex.sample(0), ex.sample(1)]
        for i, s in enumerate(samples):
            found.check(
                isinstance(s, modality.sample_type),
                "example-sample",
                f"Examples.sample({i}) of {modality_name!r} is a {type(s).__name__}, "
                f"not its sample type {modality.sample_type.__name__}",
            )
        found.done()
    if len(samples) < 2:
        raise ValueError("check_encoder needs two or more different samples")

    if encoder is None:
        if weights is None and spec.fits_on_data:
            weights = _fit_dataset(modality)
        elif weights is None and (reason := entry.probe()) is not None:
            pytest.skip(f"{name}: weights not loadable here: {reason}")
        try:
            encoder = build_cached(name, weights, **(options or {}))
        except Exception as exc:
            found.fail("encoder-build", f"building it raised {type(exc).__name__}: {exc}")
            found.done()
    assert encoder is not None
    if not found.check(isinstance(encoder, Encoder), "encoder-build", f"factory returned a {type(encoder).__name__}"):
        found.done()
    found.check(
        getattr(getattr(encoder, "spec", None), "name", None) == name,
        "encoder-build",
        f"the built encoder's spec is named {getattr(getattr(encoder, 'spec', None), 'name', None)!r}",
    )

    ident = _check_identity(found, name, entry, encoder, exact_dim=not options)
    dim: int = ident["dim"] if isinstance(ident.get("dim"), int) else spec.dim
    ids = [f"{name}#example-{i}" for i in range(len(samples))]

    batch = _encode(found, encoder, samples, ids, dim, "the batch of examples")
    if batch is not None:
        for i, (sample, item_id) in enumerate(zip(samples, ids)):
            single = _encode(found, encoder, [sample], [item_id], dim, f"example {i} alone")
            if single is None:
                continue
            scale = max(1.0, float(np.max(np.abs(single))))
            if not np.allclose(batch[i], single[0], rtol=RTOL, atol=ATOL * scale):
                worst = float(np.max(np.abs(batch[i] - single[0])))
                found.fail(
                    "batch-independence",
                    f"example {i}'s vector differs by up to {worst:.3g} in a batch of {len(samples)} from alone",
                )
        if np.array_equal(batch[0], batch[1]):
            found.fail("distinct-inputs", "examples 0 and 1 (different content) got identical vectors")

    _check_wrong_type(found, encoder)
    found.done()
    return ident


def _fit_dataset(modality: Modality) -> str:
    """The first example dataset that needs no options (an encoder's weights string carries none)."""
    _examples(modality, "fitted encoders")
    for ref, opts in example_datasets(modality.name).values():
        if not opts:
            return ref
    pytest.skip(f"modality {modality.name!r} has no example dataset to fit on (one without adapter options)")


def _check_identity(found: _Findings, name: str, entry: EncoderEntry, encoder: Encoder, exact_dim: bool) -> dict:
    try:
        ident = encoder.identity()
        fingerprint = encoder.fingerprint
        again = encoder.fingerprint
    except Exception as exc:
        found.fail("identity", f"identity() or fingerprint raised {type(exc).__name__}: {exc}")
        return {}
    missing = [k for k in ("name", "dim", "fingerprint", "weights") if k not in ident]
    if not found.check(not missing, "identity", f"identity() lacks {missing}"):
        return ident
    found.check(ident["name"] == name, "identity", f"identity() name {ident['name']!r} is not {name!r}")
    found.check(
        isinstance(ident["dim"], int) and ident["dim"] > 0, "identity", f"identity() dim {ident['dim']!r} is not > 0"
    )
    if exact_dim:
        found.check(
            ident["dim"] == entry.spec.dim,
            "identity",
            f"identity() dim {ident['dim']} is not the registered spec's dim {entry.spec.dim}",
        )
    found.check(isinstance(fingerprint, str) and bool(fingerprint), "identity", f"fingerprint {fingerprint!r} is empty")
    found.check(again == fingerprint, "identity", f"fingerprint changed between reads ({fingerprint!r}, {again!r})")
    found.check(
        ident["fingerprint"] == fingerprint,
        "identity",
        f"identity() fingerprint {ident['fingerprint']!r} is not encoder.fingerprint {fingerprint!r}",
    )
    source = getattr(encoder, "weights_source", None)
    found.check(
        isinstance(source, str) and bool(source), "identity", f"weights_source {source!r} is not a non-empty string"
    )
    found.check(ident["weights"] == source, "identity", f"identity() weights {ident['weights']!r} is not {source!r}")
    return ident


def _encode(
    found: _Findings, encoder: Encoder, samples: Sequence[Any], ids: Sequence[str], dim: int, what: str
) -> np.ndarray | None:
    """Preprocess and encode; an exception or a malformed result is an ``encoder-output`` problem."""
    try:
        out = encoder.encode([encoder.preprocess(s, i) for s, i in zip(samples, ids)])
    except Exception as exc:
        found.fail("encoder-output", f"{what}: preprocess/encode raised {type(exc).__name__}: {exc}")
        return None
    if not isinstance(out, np.ndarray):
        found.fail("encoder-output", f"{what}: encode returned a {type(out).__name__}, not a numpy array")
        return None
    ok = found.check(
        out.shape == (len(samples), dim), "encoder-output", f"{what}: shape {out.shape}, expected {(len(samples), dim)}"
    )
    ok &= found.check(out.dtype == np.float32, "encoder-output", f"{what}: dtype {out.dtype}, expected float32")
    if out.dtype.kind == "f":
        bad = int(np.size(out) - np.isfinite(out).sum())
        ok &= found.check(not bad, "encoder-output", f"{what}: {bad} non-finite value(s) (NaN or inf)")
    return out if ok else None


def _check_wrong_type(found: _Findings, encoder: Encoder) -> None:
    try:
        encoder.encode([encoder.preprocess(ForeignSample(), WRONG_ID)])
    except (ItemError, TypeError, ValueError) as exc:
        if not str(exc).strip():
            found.fail("wrong-sample-type", f"a ForeignSample raised {type(exc).__name__} with no message")
        elif isinstance(exc, ItemError) and WRONG_ID not in str(exc):
            found.fail("wrong-sample-type", f"the ItemError does not name the item {WRONG_ID!r}: {exc}")
    except Exception as exc:
        found.fail(
            "wrong-sample-type",
            f"a ForeignSample raised {type(exc).__name__}: {exc}; expected ItemError, TypeError or ValueError "
            "naming what was expected",
        )
    else:
        found.fail("wrong-sample-type", "a ForeignSample was accepted and encoded")


# ---------------------------------------------------------------- modalities


def check_modality(name: str) -> None:
    """The entry's declarations, then (with ``Examples``) its samples, query reader and raw-input decoder."""
    found = _Findings(f"modality {name!r}")
    load_catalog()
    entry = MODALITIES.get(name)
    found.check(entry.name == name, "modality-entry", f"registered as {name!r} but named {entry.name!r}")
    found.check(isinstance(entry.sample_type, type), "modality-entry", "sample_type is not a class")
    found.check(bool(entry.adapters), "modality-entry", "declares no dataset adapter")
    unknown = [kind for kind in entry.adapters if kind not in DATASETS]
    found.check(not unknown, "modality-entry", f"adapter(s) {unknown} are not registered datasets")
    heads = [h for h in entry.default_heads if h not in HEADS]
    found.check(not heads, "modality-entry", f"default head(s) {heads} are not registered heads")
    found.check(bool(ENCODERS.names(f"{name}/")), "modality-entry", f"no encoder is registered under '{name}/'")
    odd = [s for s in entry.query_suffixes if not s.startswith(".")]
    found.check(not odd, "modality-entry", f"query suffixes {odd} do not start with '.'")
    if entry.raw_input is not None:
        found.check(bool(entry.raw_input.column), "modality-entry", "raw_input.column is empty")
        suffix = entry.raw_input.suffix
        found.check(
            not suffix or suffix.startswith("."), "modality-entry", f"raw_input.suffix {suffix!r} is not '.ext'"
        )
    found.done()

    ex = _examples(entry, "samples, query reader and raw-input decoder")
    for seed in (0, 1):
        s = ex.sample(seed)
        found.check(
            isinstance(s, entry.sample_type),
            "example-sample",
            f"Examples.sample({seed}) is a {type(s).__name__}, not {entry.sample_type.__name__}",
        )
    if entry.read_query is not None:
        missing = str(_folder("queries", name) / "no-such-file")
        try:
            entry.read_query(missing)
        except (ItemError, OSError, ValueError):
            pass
        except Exception as exc:
            found.fail("query-missing-file", f"read_query of a missing file raised {type(exc).__name__}: {exc}")
        else:
            found.fail("query-missing-file", "read_query of a missing file returned a sample")
    if entry.raw_input is not None:
        _check_raw_input(found, entry, ex)
    found.done()


def _check_raw_input(found: _Findings, entry: Modality, ex: Examples) -> None:
    raw = entry.raw_input
    assert raw is not None
    try:
        raw.decode(GARBAGE, "conformance-garbage")
    except ItemError as exc:
        found.check(
            "conformance-garbage" in str(exc),
            "raw-decode-rejects",
            f"the ItemError for garbage bytes does not name the input: {exc}",
        )
    except Exception as exc:
        found.fail("raw-decode-rejects", f"garbage bytes raised {type(exc).__name__}: {exc}, not an ItemError")
    else:
        found.fail("raw-decode-rejects", "garbage bytes were decoded into a sample")
    if entry.read_query is None or ex.query_file is None:
        return  # nothing to compare the decoder with
    path = ex.query_file(str(_folder("queries", entry.name)), 0)
    try:
        from_file = entry.read_query(path)
        from_bytes = raw.decode(Path(path).read_bytes(), path)
    except Exception as exc:
        found.fail("raw-decode-agrees", f"reading the example query {Path(path).name}: {type(exc).__name__}: {exc}")
        return
    found.check(
        isinstance(from_bytes, entry.sample_type),
        "raw-decode-agrees",
        f"raw_input.decode returned a {type(from_bytes).__name__}, not {entry.sample_type.__name__}",
    )
    diff = same_content(from_file, from_bytes)
    found.check(
        diff is None, "raw-decode-agrees", f"read_query and raw_input.decode of {Path(path).name} differ: {diff}"
    )


# ---------------------------------------------------------------- dataset adapters


def declaring_modalities(kind: str) -> list[str]:
    """The modalities whose entry lists the adapter ``kind``."""
    load_catalog()
    return [n for n in MODALITIES.names() if kind in MODALITIES.get(n).adapters]


def check_adapter(kind: str, *, per_split: int = 2) -> None:
    """Open the adapter's offline example dataset; check its items and load the first ``per_split`` of each split."""
    found = _Findings(f"dataset adapter {kind!r}")
    load_catalog()
    DATASETS.get(kind)
    owners = declaring_modalities(kind)
    found.check(len(owners) == 1, "adapter-declared", f"declared by {len(owners)} modalities ({owners}), not one")
    found.done()
    entry = MODALITIES.get(owners[0])
    _examples(entry, "dataset adapters")
    refs = example_datasets(entry.name)
    if kind not in refs:
        pytest.skip(f"modality {entry.name!r} gives no offline example dataset for adapter {kind!r}")
    ref, options = refs[kind]
    try:
        ds = open_dataset(ref, **options)
    except Exception as exc:
        found.fail("adapter-open", f"open_dataset({ref!r}) raised {type(exc).__name__}: {exc}")
        found.done()
    found.check(isinstance(ds, Dataset), "adapter-open", f"the factory returned a {type(ds).__name__}, not a Dataset")
    found.check(
        getattr(ds, "modality", None) == entry.name,
        "adapter-open",
        f"the dataset's modality is {getattr(ds, 'modality', None)!r}, not {entry.name!r}",
    )
    found.done()
    try:
        items = ds.items()
    except Exception as exc:
        found.fail("adapter-items", f"items() raised {type(exc).__name__}: {exc}")
        found.done()
    _check_items(found, items)
    found.done()
    chosen: dict[str | None, list[Item]] = {}
    for it in items:
        if len(chosen.setdefault(it.split, [])) < per_split:
            chosen[it.split].append(it)
    for it in (it for group in chosen.values() for it in group):
        try:
            sample = ds.load(it)
        except Exception as exc:
            found.fail("adapter-load", f"load({it.id!r}) raised {type(exc).__name__}: {exc}")
            continue
        found.check(
            isinstance(sample, entry.sample_type),
            "adapter-load",
            f"load({it.id!r}) returned a {type(sample).__name__}, not {entry.sample_type.__name__}",
        )
    found.done()


def _check_items(found: _Findings, items: Any) -> None:
    if not found.check(isinstance(items, list) and bool(items), "adapter-items", f"items() gave {items!r:.80}"):
        return
    wrong = [type(it).__name__ for it in items if not isinstance(it, Item)]
    if not found.check(not wrong, "adapter-items", f"items() holds non-Items ({sorted(set(wrong))})"):
        return
    ids = [it.id for it in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    found.check(not dupes, "adapter-items", f"duplicate item ids {dupes[:5]}")
    found.check(
        all(isinstance(it.id, str) and it.id for it in items), "adapter-items", "an item id is empty or not text"
    )
    found.check(
        all(isinstance(it.content_hash, str) and it.content_hash for it in items),
        "adapter-items",
        "an item has no content hash",
    )
    found.check(all(isinstance(it.labels, dict) for it in items), "adapter-items", "an item's labels are not a dict")
    found.check(
        all(it.group is None or isinstance(it.group, str) for it in items), "adapter-items", "a group is not text"
    )
    bad = sorted({repr(it.split) for it in items if it.split not in ALLOWED_SPLITS})
    found.check(not bad, "adapter-splits", f"split value(s) {', '.join(bad)} are not one of {ALLOWED_SPLITS}")
