"""The encoder registry: each entry is a spec plus a lazy factory (weights load only when called)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embedforge.registry.registry import Registry

if TYPE_CHECKING:
    from embedforge.modalities.base import Encoder, EncoderSpec


@dataclass(frozen=True)
class EncoderEntry:
    """A registered encoder: its identity now, its weights later."""

    spec: EncoderSpec
    factory: Callable[..., Encoder]  # factory(weights: str | None = None, device: str = "cpu")
    probe: Callable[[], str | None]  # None when weights can be loaded here, else the reason

    def build(self, weights: str | None = None, device: str = "cpu", **options: Any) -> Encoder:
        return self.factory(weights=weights, device=device, **options)


ENCODERS: Registry[EncoderEntry] = Registry("encoder")


def register_encoder(spec: EncoderSpec, probe: Callable[[], str | None]):
    """Decorator for an encoder factory ``f(weights=None, device="cpu") -> Encoder``."""

    def wrap(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        ENCODERS.register(spec.name, EncoderEntry(spec, factory, probe))
        return factory

    return wrap


def encoder_entry(name: str) -> EncoderEntry:
    """The registered entry (spec, factory, probe), built-in catalog loaded first; nothing is built."""
    from embedforge.registry.catalog import load_catalog

    load_catalog()
    return ENCODERS.get(name)


def build_encoder(name: str, weights: str | None = None, device: str = "cpu", **options: Any) -> Encoder:
    """Resolve a registry key (loading the built-in catalog first) and build the encoder.

    ``options`` are the encoder's own recipe knobs (e.g. ``channels=6``, ``pooling="last"``);
    numeric strings, as a UI form sends them, become numbers.
    """
    from embedforge.registry.catalog import load_catalog
    from embedforge.registry.runtime import cap_torch_threads, resolve_device

    load_catalog()
    model = ENCODERS.get(name).build(weights=weights, device=resolve_device(device), **coerce_options(options))
    cap_torch_threads()  # after the build: that is where torch is imported
    return model


def coerce_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``{"channels": "6"}`` -> ``{"channels": 6}``; other values unchanged."""
    out = {}
    for key, value in (options or {}).items():
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                with contextlib.suppress(ValueError):
                    value = float(value)
        out[key] = value
    return out
