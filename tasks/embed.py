"""Plan work against what the store already holds, then encode one shard of items at a time."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Dataset, Item, ItemError
from embedforge.modalities.runtime import cap_torch_threads, parity_gate, probe_inputs
from embedforge.registry.cache import cached_dataset, cached_encoder, remember_planned
from embedforge.registry.datasets import open_dataset
from embedforge.tasks.prefetch import prepared
from embedforge.tasks.store import VectorStore, table_name

log = logging.getLogger(__name__)
# A length-sorting encoder fed a shard already in size order gets this many batches per call; the next are prepared
# meanwhile (bench_text.py: the same padding as a whole-shard sort, tokenisation off the encoder's path).
STREAM_BATCHES = 4


@dataclass
class Plan:
    """What an embed run has to do: the shards to encode and what it can skip."""

    table: str
    dataset: str
    total: int
    skipped: int
    shards: list[str]
    pending: int


@dataclass
class ShardResult:
    """What one shard did; also written beside the shard file so progress and resumes can see it."""

    shard: str
    embedded: int = 0
    reused: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    units: int = 0  # the encoder's input_units of what it encoded (word pieces for text), 0 if not counted
    unit: str = ""
    threads: int = 0  # torch threads the shard's encoder ran with (0: torch not used)
    encode_seconds: float = 0.0  # reading, preprocessing and encoding only (no model build, no store writes)


def dataset_name_for(ref: str, name: str | None) -> str:
    """A dataset's name in the table: given, or the adapter kind plus a hash of its argument."""
    from embedforge.tasks.filters import check_name

    if name:
        return check_name(name)
    kind, _, arg = ref.partition(":")
    return check_name(kind if not arg else f"{kind}-{Path(arg.rstrip('/')).name or kind}")


def plan_embedding(
    *,
    dataset: str,
    encoder: str,
    db_uri: str,
    work_dir: str,
    weights: str | None = None,
    shard_size: int = 256,
    dataset_name: str | None = None,
    options: dict[str, Any] | None = None,
    encoder_options: dict[str, Any] | None = None,
) -> Plan:
    """Scan the dataset, drop items whose (id, content hash) is stored, cut the rest into shard files."""
    name = dataset_name_for(dataset, dataset_name)
    opened = open_dataset(dataset, **(options or {}))
    if not isinstance(opened, Dataset):
        raise ContractError(
            f"{dataset}: the adapter returned a {type(opened).__name__}, not an embedforge.modalities.base.Dataset "
            "(ARCHITECTURE.md, 'Adding a modality')"
        )
    items = opened.items()
    table = table_name(encoder, weights, encoder_options)
    known = VectorStore(db_uri).known(table, name)
    todo = [it for it in items if known.get(it.id) != it.content_hash]
    stamp = hashlib.sha256("".join(it.content_hash for it in items).encode()).hexdigest()[:16]
    by_group = opened.shard_by == "group"  # e.g. one slide per shard: committed together
    todo = todo if by_group else by_file_size(todo)
    shards = _write_shards(
        todo, Path(work_dir), dataset, name, table, options or {}, max(1, shard_size), stamp, by_group=by_group
    )
    plan = Plan(
        table=table, dataset=name, total=len(items), skipped=len(items) - len(todo), shards=shards, pending=len(todo)
    )
    write_private(plan_path(work_dir, table, name), json.dumps(asdict(plan)))
    remember_planned(dataset, options or {}, stamp, opened)  # its shards in this process reuse the scan
    return plan


def load_plan(path: str) -> Plan:
    """A plan ``plan_embedding`` wrote (the CLI plans before any server starts, then hands the file over), its
    shard files checked present: a plan whose shards are gone is an error, not an empty run."""
    plan = Plan(**json.loads(Path(path).read_text()))
    missing = [s for s in plan.shards if not Path(s).exists()]
    if missing:
        raise FileNotFoundError(f"plan {path}: {len(missing)} shard file(s) gone, e.g. {missing[0]}; plan again")
    return plan


def pending_count(
    *,
    dataset: str,
    encoder: str,
    db_uri: str,
    weights: str | None = None,
    dataset_name: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    """How many items are new or changed, without writing a plan: lets a caller skip a no-op run."""
    name = dataset_name_for(dataset, dataset_name)
    known = VectorStore(db_uri).known(table_name(encoder, weights, encoder_options), name)
    return sum(known.get(it.id) != it.content_hash for it in open_dataset(dataset, **(options or {})).items())


def plan_path(work_dir: str | Path, table: str, dataset: str) -> Path:
    """Where the latest plan of (table, dataset) is kept, for progress displays."""
    return Path(work_dir) / f"{table}--{dataset}.plan.json"


def _write_shards(
    items: list[Item],
    root: Path,
    ref: str,
    name: str,
    table: str,
    options: dict[str, Any],
    size: int,
    stamp: str,
    by_group: bool = False,
) -> list[str]:
    """Content-addressed shard files: a rerun of the same work reuses the same names."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for chunk in _group_chunks(items) if by_group else _batches(items, size):
        body = {
            "dataset": ref,
            "name": name,
            "table": table,
            "options": options,
            "stamp": stamp,
            "items": [it.to_dict() for it in chunk],
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = root / f"{table}--{name}--{digest}.json"
        write_private(path, json.dumps(body, default=str))  # items' URIs and options: the owner's only
        Path(str(path) + ".result").unlink(missing_ok=True)  # stale result of an earlier run
        paths.append(str(path))
    return paths


def by_file_size(items: list[Item]) -> list[Item]:
    """Items in order of their file's size; stable, so equal sizes and items that are not files of their own (rows
    of one CSV, windows of one document) keep the adapter's order.

    Shards cut in the adapter's order each span every length, so an encoder that sorts a shard by length (the text
    transformers) still pads each batch to lengths far apart; cut by size, a shard holds like lengths, as one sort
    of the whole set would give (text at shards of 256: 11% more compute than one global sort, bench_text.py).
    Vectors do not depend on the order (batch independence, checked by the conformance suite).
    """

    return sorted(items, key=file_size)


def file_size(item: Item) -> int:
    """The size of the item's own file; -1 for a URL, a row of a file or no uri."""
    try:
        return os.stat(item.uri).st_size
    except (OSError, ValueError, TypeError):
        return -1


def in_size_order(items: list[Item]) -> bool:
    """Every item is a file of its own and they come smallest first (a shard the plan cut by size)."""
    sizes = [file_size(it) for it in items]
    return all(s >= 0 for s in sizes) and all(a <= b for a, b in itertools.pairwise(sizes))


def _group_chunks(items: list[Item]) -> list[list[Item]]:
    """One chunk per group (slide), in first-seen order, whatever its size."""
    groups: dict[Any, list[Item]] = {}
    for it in items:
        groups.setdefault(it.group, []).append(it)
    return list(groups.values())


def embed_shard(
    *,
    shard_path: str,
    encoder: str,
    db_uri: str,
    weights: str | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    encoder_options: dict[str, Any] | None = None,
    concurrent: int = 1,
) -> ShardResult:
    """Load, preprocess and encode one shard; store vectors and failures; never raise for one bad item.

    ``concurrent``: shards this process runs at once; torch gets the cores shared out among them.
    """
    import time

    t0 = time.perf_counter()
    shard = json.loads(Path(shard_path).read_text())
    items = [Item.from_dict(d) for d in shard["items"]]
    store, table, name = VectorStore(db_uri), shard["table"], shard["name"]
    result = ShardResult(shard=shard_path)
    known = store.known(table, name, [it.id for it in items])  # another run may have done part of it
    items = [it for it in items if known.get(it.id) != it.content_hash]
    result.skipped = len(shard["items"]) - len(items)
    model = cached_encoder(encoder, weights, device=device, options=encoder_options)
    result.threads = cap_torch_threads(concurrent=concurrent) or 0
    identity = model.identity()
    if store.has(table):
        store.check_identity(table, store.identity(table), identity)
    reuse = store.vectors_by_hash(table, [it.content_hash for it in items])
    dataset = _shard_dataset(shard)
    parity_gate(  # vectors from an accelerator share a table only if they match the CPU's
        (table, device),
        device,
        model,
        lambda: cached_encoder(encoder, weights, device="cpu", options=encoder_options),
        lambda: probe_inputs(model, dataset, items),
    )
    started = time.perf_counter()
    rows, failures, result.units = _encode_items(items, reuse, model, dataset, batch_size)
    result.encode_seconds = time.perf_counter() - started
    result.unit = model.unit_name
    store.upsert(table, identity, [dict(r, dataset=name) for r in rows])
    store.record_failures(table, name, failures)
    store.clear_failures(table, name, [r["id"] for r in rows])
    result.embedded = sum(1 for r in rows if not r["reused"])
    result.reused = len(rows) - result.embedded
    result.failed, result.failures = len(failures), failures
    result.seconds = time.perf_counter() - t0
    write_private(Path(shard_path + ".result"), json.dumps(asdict(result)))
    return result


def _shard_dataset(shard: dict[str, Any]):
    """The adapter the plan opened (same ref, options and content stamp), else one opened once per process."""
    return cached_dataset(shard["dataset"], shard["options"], shard.get("stamp", ""))


def _encode_items(items, reuse, model, dataset, batch_size):
    """Return stored-row dicts and failure dicts for a list of items."""
    rows = [_row(it, reuse[it.content_hash], reused=True) for it in items if it.content_hash in reuse]
    todo = [it for it in items if it.content_hash not in reuse]
    failures, pending, units = [], [], 0
    size, depth = _feed(model, todo, batch_size, int(dataset.prefetch or 0))
    load = _typed_loader(dataset)
    for it, x, exc in prepared(todo, lambda it: model.preprocess(load(it), it.id), depth):
        if isinstance(exc, ContractError):
            raise exc  # the adapter itself is wrong: every item would fail the same way
        if exc is not None:  # one bad item must not stop the shard
            failures.append(_failure(it, exc))
            continue
        pending.append((it, x))
        if len(pending) >= size:
            units += model.input_units([x for _, x in pending])
            _flush(model, pending, rows, failures)
            pending = []
    units += model.input_units([x for _, x in pending])
    _flush(model, pending, rows, failures)
    return rows, failures, units


def _feed(model, todo: list[Item], batch_size: int, depth: int) -> tuple[int, int]:
    """(items an encode() call gets, items prepared ahead in a thread; adapters may ask for read-ahead).

    An encoder that sorts by length gets the whole shard, as one ``SentenceTransformer.encode`` call sorts it all;
    but where the shard's files already come smallest first (the plan cut it by size), a few batches at a time
    pad the same, and the next ones are prepared (tokenised) in a thread while these are encoded.
    """
    batch = max(1, batch_size)
    if not model.sorts_by_length:
        return batch, depth
    if len(todo) > STREAM_BATCHES * batch and in_size_order(todo):
        return STREAM_BATCHES * batch, max(depth, STREAM_BATCHES * batch)
    return max(1, len(todo)), depth


class ContractError(TypeError):
    """A dataset adapter or encoder broke the modality contract (ARCHITECTURE.md): the run stops, naming the rule."""


def _typed_loader(dataset) -> Callable[[Item], Any]:
    """``dataset.load``, checked against the sample type its modality declares (a plugin's mistake named at once,
    not as an AttributeError deep inside an encoder)."""
    from embedforge.registry.modalities import modality
    from embedforge.registry.registry import RegistryError

    name = getattr(dataset, "modality", None)
    try:
        expected = modality(name).sample_type if isinstance(name, str) else None
    except RegistryError:  # an adapter of no registered modality: the preflight names that; nothing to check here
        expected = None

    def load(item: Item) -> Any:
        sample = dataset.load(item)
        if expected is not None and not isinstance(sample, expected):
            raise ContractError(
                f"{type(dataset).__name__}.load({item.id!r}) returned a {type(sample).__name__}; the {name} "
                f"modality's adapters return {expected.__name__} (contract: load() returns the sample type)"
            )
        return sample

    return load


def _flush(model, batch, rows, failures) -> None:
    """Encode one batch of prepared items, appending to the rows and failures so far."""
    if batch:
        vectors, errors = _encode_batch(model, batch)
        rows.extend(_row(it, v, reused=False) for (it, _), v in zip(batch, vectors) if v is not None)
        failures.extend(errors)


def _encode_batch(model, batch):
    """Encode a batch; if it fails, retry item by item so one bad input names itself."""
    try:
        return _checked(_contract_shape(model, model.encode([x for _, x in batch]), len(batch)), batch)
    except ContractError:
        raise
    except Exception as exc:  # a batch fails as a whole: retried item by item so the bad input names itself
        if len(batch) == 1:
            return [None], [_failure(batch[0][0], exc)]
        vectors, failures = [], []
        for one in batch:
            v, f = _encode_batch(model, [one])
            vectors += v
            failures += f
        return vectors, failures


def _contract_shape(model, out: Any, n: int) -> np.ndarray:
    """encode() of n inputs is (n, spec.dim) numbers; anything else stops the run naming the encoder and the rule."""
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{model.spec.name}: encode() returned {type(out).__name__}, not numbers ({exc})") from None
    if arr.shape != (n, model.spec.dim):
        raise ContractError(
            f"{model.spec.name}: encode() of {n} inputs returned shape {arr.shape}; the contract is (n, spec.dim) = "
            f"({n}, {model.spec.dim})"
        )
    return arr


def _checked(out: np.ndarray, batch):
    """Reject non-finite vectors item by item instead of storing them."""
    vectors, failures = [], []
    for (it, _), v in zip(batch, out):
        if np.all(np.isfinite(v)):
            vectors.append(v)
        else:
            vectors.append(None)
            failures.append(_failure(it, ItemError(f"{it.id}: encoder produced a non-finite vector")))
    return vectors, failures


def _batches(seq, size):
    for start in range(0, len(seq), max(1, size)):
        yield seq[start : start + size]


def _row(item: Item, vector, reused: bool) -> dict[str, Any]:
    return {
        "id": item.id,
        "uri": item.uri,
        "content_hash": item.content_hash,
        "split": item.split,
        "group": item.group,
        "labels": item.labels,
        "vector": vector,
        "reused": reused,
    }


def _failure(item: Item, exc: Exception) -> dict[str, Any]:
    message = str(exc) if isinstance(exc, ItemError) else f"{item.id}: {type(exc).__name__}: {exc}"
    log.warning("item failed: %s", message)
    return {"id": item.id, "uri": item.uri, "content_hash": item.content_hash, "error": message}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (mode 600, also when it already existed), atomically: two
    runs planning the same content-addressed shards write the same files, and a reader must see the old file or
    the new one, never one truncated for rewriting (a run once read an empty shard there)."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
