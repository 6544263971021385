"""Checks a run passes before any work: a mistake is one line and exit code 2, not a failed flow run.

Everything here is known without reading a single item: the encoder and adapter are registered, they belong to
the same modality, the weights can be loaded (or the caller is told which ``--weights`` to pass), a path the
dataset names exists, and the heads apply. Nothing here imports torch, Prefect or LanceDB.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


class PreflightError(ValueError):
    """A run that cannot succeed as asked; the message is the whole story (the CLI prints it, exit 2)."""


def adapter_modality(kind: str) -> str | None:
    """The modality that declares the adapter ``kind`` (None: registered by no modality entry)."""
    from embedforge.registry.modalities import MODALITIES

    for name in MODALITIES:
        if kind in MODALITIES.get(name).adapters:
            return name
    return None


def check_encoder(encoder: str, weights: str | None) -> Any:
    """The registered entry, its weights loadable here or a clear note of what to pass."""
    entry = known_encoder(encoder)
    if weights:
        _check_local(weights, "--weights")
    elif entry.spec.fits_on_data:  # fit on a dataset's train split (MiniRocket): no weights, no encoder
        example = re.search(r"weights='([^']+)'", entry.spec.weights)
        raise PreflightError(
            f"{encoder} is fit on a dataset's train split, not downloaded: pass that dataset as --weights"
            + (f" (e.g. --weights {example.group(1)})" if example else "")
        )
    elif (reason := entry.probe()) is not None and _offline_or_missing(reason):
        raise PreflightError(f"{encoder} needs --weights: {reason}")
    return entry


def _offline_or_missing(reason: str) -> bool:
    """A hub download can still work online; a missing package or an offline hub cannot."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    return offline or "not installed" in reason or "missing" in reason


def _check_local(value: str, what: str) -> None:
    """A value written as a local path (absolute, ``./``, ``~``) must exist; hub ids and URIs pass through."""
    if "://" in value:
        return
    if value.startswith(("/", "./", "../", "~")) and not Path(value).expanduser().exists():
        raise PreflightError(f"{what} {value}: no such file or directory")


def check_dataset(dataset: str, encoder: str) -> None:
    """Adapter registered, of the encoder's modality, and the path it names present."""
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.datasets import DATASETS
    from embedforge.registry.registry import RegistryError

    load_catalog()
    kind, sep, arg = dataset.partition(":")
    if not sep:
        raise PreflightError(f"--dataset {dataset!r}: expected ADAPTER:ARGUMENT, e.g. ucf101:/data/UCF101")
    try:
        DATASETS.get(kind)
    except RegistryError as exc:
        raise PreflightError(str(exc)) from None
    want, have = encoder.split("/", 1)[0], adapter_modality(kind)
    if have is not None and have != want:
        raise PreflightError(
            f"adapter {kind!r} reads {have} data but encoder {encoder!r} embeds {want}: "
            f"pick a {want} adapter or a {have}/* encoder"
        )
    _check_local(arg, f"--dataset {kind}:")


def check_embed(dataset: str, encoder: str, weights: str | None) -> None:
    """All an embed run needs that can be known before the dataset is scanned."""
    check_encoder(encoder, weights)
    check_dataset(dataset, encoder)


def check_heads(heads: list[str], encoder: str) -> None:
    """Heads registered, and a modality's own heads (``video/*``; ``mil/*`` is pathology's) only on its vectors."""
    from embedforge.registry.heads import HEADS
    from embedforge.registry.modalities import MODALITIES
    from embedforge.registry.registry import RegistryError

    modality = encoder.split("/", 1)[0]
    for head in heads:
        try:
            HEADS.get(head)
        except RegistryError as exc:
            raise PreflightError(str(exc)) from None
        family = head.split("/", 1)[0]
        owner = "pathology" if family == "mil" else family if family in MODALITIES else None
        if owner is not None and owner != modality:
            raise PreflightError(f"head {head!r} works on {owner} vectors, not on {encoder!r} ({modality})")


def check_benchmark(modality: str, encoders: list[str], augment: list[str], heads: list[str]) -> None:
    """Encoders of the modality, augmentations each encoder can take, heads that apply: before any embedding."""
    from embedforge.registry.augmentations import AUGMENTATIONS
    from embedforge.registry.encoders import ENCODERS
    from embedforge.registry.modalities import modality as modality_entry
    from embedforge.registry.registry import RegistryError

    try:
        modality_entry(modality)
        augs = [AUGMENTATIONS.get(a) for a in augment]
    except RegistryError as exc:
        raise PreflightError(str(exc)) from None
    for encoder in encoders:
        known_encoder(encoder)
        if encoder.split("/", 1)[0] != modality:
            raise PreflightError(f"encoder {encoder!r} is not a {modality} encoder")
        for aug in augs:
            if aug.variant_suffix and encoder + aug.variant_suffix not in ENCODERS:
                raise PreflightError(
                    f"--augment {aug.name}: {encoder} has no {aug.variant_suffix} sibling "
                    f"({encoder}{aug.variant_suffix} is not registered); drop it or pick an encoder that has one"
                )
        check_heads(heads, encoder)


def known_encoder(encoder: str) -> Any:
    """The registered encoder entry, or the registry's own message (closest names) as a PreflightError."""
    from embedforge.registry.encoders import encoder_entry
    from embedforge.registry.registry import RegistryError

    try:
        return encoder_entry(encoder)
    except RegistryError as exc:
        raise PreflightError(str(exc)) from None
