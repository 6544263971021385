"""The encoder registry: each entry is a spec plus a lazy factory (weights load only when called)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry.registry import Registry

if TYPE_CHECKING:
    from modalities.base import Encoder, EncoderSpec


@dataclass(frozen=True)
class EncoderEntry:
    """A registered encoder: its identity now, its weights later."""

    spec: EncoderSpec
    factory: Callable[..., Encoder]  # factory(weights: str | None = None, device: str = "cpu")
    probe: Callable[[], str | None]  # None when weights can be loaded here, else the reason

    def build(self, weights: str | None = None, device: str = "cpu") -> Encoder:
        return self.factory(weights=weights, device=device)


ENCODERS: Registry[EncoderEntry] = Registry("encoder")


def register_encoder(spec: EncoderSpec, probe: Callable[[], str | None]):
    """Decorator for an encoder factory ``f(weights=None, device="cpu") -> Encoder``."""

    def wrap(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        ENCODERS.register(spec.name, EncoderEntry(spec, factory, probe))
        return factory

    return wrap


def build_encoder(name: str, weights: str | None = None, device: str = "cpu") -> Encoder:
    """Resolve a registry key (loading the built-in catalog first) and build the encoder."""
    from registry.catalog import load_catalog

    load_catalog()
    return ENCODERS.get(name).build(weights=weights, device=device)
