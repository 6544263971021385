"""The modality registry: what a modality is, declared once, looked up by every layer that needs it.

A modality registers one :class:`Modality` entry in its package ``__init__`` (or a plugin does, through the
``embedforge.plugins`` entry-point group). The CLI, the leaderboard, ``search``, the served pyfunc model and
tracking look modalities up here; no other list of modality names exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embedforge.registry.registry import Registry


@dataclass(frozen=True)
class RawInput:
    """What a REST caller sends a served model of this modality, and how it becomes one sample.

    ``column`` is the request column (``audio``, ``video``, ``series``); its values are base64 strings (or
    ``file://`` paths, where configuration allows local paths). ``decode(data, name)`` turns the request bytes
    into one raw sample (the same type a dataset adapter's ``load`` returns), raising ``ItemError`` naming
    ``name`` on bad input. ``suffix`` is the temporary-file suffix for decoders that need a file.
    """

    column: str
    decode: Callable[[bytes, str], Any]
    description: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class Examples:
    """Small valid inputs of a modality, made offline in seconds: what ``embedforge.testing`` exercises.

    ``sample(seed)`` returns one raw sample of the modality's sample type; different seeds give different content.
    ``query_file(folder, seed)`` writes one query file under ``folder`` and returns its path: ``read_query`` reads
    it, and its bytes are what ``raw_input.decode`` gets. ``datasets(folder)`` writes small datasets under
    ``folder`` and returns, per adapter kind, its reference (``"ucr:/tmp/x/Toy"``) or reference and options
    (``("ecgarray:/tmp/x", {"sample_rate": 250})``); an adapter it leaves out is not exercised offline.
    An encoder that is fit on data (``"fit"`` in its spec's input) is fit on the first of these datasets.
    """

    sample: Callable[[int], Any]
    query_file: Callable[[str, int], str] | None = None
    datasets: Callable[[str], dict[str, str | tuple[str, dict[str, Any]]]] | None = None


@dataclass(frozen=True)
class Modality:
    """One modality's contract: sample type, dataset adapters, query reader, raw-input decoder, default heads."""

    name: str  # "speech": the namespace of its encoders ("speech/ge2e")
    sample_type: type  # Audio, Series, ... what its adapters' ``load`` returns
    adapters: tuple[str, ...]  # dataset adapter kinds it registers, the first is the default
    read_query: Callable[[str], Any] | None = None  # ``search --query FILE`` -> one raw sample
    raw_input: RawInput | None = None  # served models: request column -> one raw sample
    default_heads: tuple[str, ...] = ("classify/logreg", "classify/ridge")
    query_suffixes: tuple[str, ...] = ()  # file suffixes its query reader accepts (help text, validation)
    default_target: str | None = None  # numeric label regress/* heads learn when the benchmark names none
    default_encoders: tuple[str, ...] = ()  # what `benchmark MODALITY` compares when no --encoders are named
    default_datasets: tuple[str, ...] = ()  # ... and on what (offline-runnable), when no --datasets are named
    description: str = ""
    examples: Examples | None = None  # small offline samples, query files and datasets (the conformance suite)
    # One stored item (a search hit: id, uri, labels) as a PIL image: analyze's map thumbnails, search --sheet.
    thumbnail: Callable[[dict[str, Any]], Any] | None = None
    # search --sheet: (hits, png path) -> the path written; hits may start with the query (``hit["query"]``).
    contact_sheet: Callable[[list[dict[str, Any]], Any], Any] | None = None
    # adapters whose queries rank a corpus (beir): the benchmark scores retrieval for them instead of heads
    retrieval_adapters: tuple[str, ...] = ()
    # A search's hits -> per hit a line of text `search` prints beside it (text: the passage) or None; all at once,
    # so hits on rows of one file read it once.
    previews: Callable[[list[dict[str, Any]]], list[str | None]] | None = None

    @property
    def default_adapter(self) -> str:
        return self.adapters[0]


MODALITIES: Registry[Modality] = Registry("modality")


def register_modality(entry: Modality) -> Modality:
    """Register a modality under its own name (a plugin calls this once, like a built-in)."""
    MODALITIES.register(entry.name, entry)
    return entry


def modality(name: str) -> Modality:
    """The registered modality (built-in catalog and plugins loaded first)."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return MODALITIES.get(name)


def modality_names() -> list[str]:
    """Every registered modality name, for CLI help and parameter validation."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return MODALITIES.names()


def modality_of_encoder(encoder: str) -> Modality:
    """``speech/ge2e`` -> the ``speech`` modality."""
    return modality(encoder.split("/", 1)[0])


def read_query(name: str, path: str) -> Any:
    """One query file -> one raw sample, with the modality's reader; a clear error where it has none."""
    entry = modality(name)
    if entry.read_query is None:
        raise ValueError(f"modality {name!r} has no query reader: search with a file is not supported for it")
    return entry.read_query(path)
