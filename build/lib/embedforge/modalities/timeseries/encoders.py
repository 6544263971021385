"""Registers the time-series encoders: cheap specs now, models only when a factory is called.

Factories take ``weights`` (hub id, local directory, or for MiniRocket a dataset ref) and
``device``; hidden-state encoders also take ``channels`` (multivariate width), ``pooling``
("mean-last" | "last" | "mean") and ``layers`` ("all" | "last") for callers that build directly.
"""

from __future__ import annotations

from typing import Any

from embedforge.modalities.timeseries.specs import (
    CHRONOS_BOLT_SMALL,
    MANTIS,
    MINIROCKET,
    MOMENT_SMALL,
    TIREX,
    with_diff,
)
from embedforge.registry.encoders import register_encoder


def _hub_probe(repo: str, files: tuple[str, ...], package: str):
    def probe() -> str | None:
        from embedforge.modalities.timeseries.forecast import hub_probe

        return hub_probe(repo, files, package)

    return probe


def _package_probe(package: str):
    def probe() -> str | None:
        from importlib.util import find_spec

        return None if find_spec(package) is not None else f"{package} is not installed"

    return probe


def _tirex(diff: bool):
    def build(weights: str | None = None, device: str = "cpu", **recipe: Any):
        from embedforge.modalities.timeseries.forecast import TiRexEncoder

        return TiRexEncoder(weights, device, diff=diff, **recipe)

    return build


def _chronos(diff: bool):
    def build(weights: str | None = None, device: str = "cpu", **recipe: Any):
        from embedforge.modalities.timeseries.forecast import ChronosBoltEncoder

        return ChronosBoltEncoder(weights, device, diff=diff, **recipe)

    return build


def _moment(diff: bool):
    def build(weights: str | None = None, device: str = "cpu", **recipe: Any):
        from embedforge.modalities.timeseries.moment import MomentEncoder

        return MomentEncoder(weights, device, diff=diff, **recipe)

    return build


def _mantis(weights: str | None = None, device: str = "cpu", **options: Any):
    from embedforge.modalities.timeseries.mantis import build

    return build(weights, device, **options)


def _minirocket(weights: str | None = None, device: str = "cpu", **options: Any):
    from embedforge.modalities.timeseries.minirocket import build

    return build(weights, device, **options)


_PROBES = {
    "tirex": _hub_probe(TIREX.weights, ("model.ckpt",), "tirex"),
    "chronos": _hub_probe(CHRONOS_BOLT_SMALL.weights, ("config.json", "model.safetensors"), "chronos"),
    "moment": _hub_probe(MOMENT_SMALL.weights, ("config.json", "model.safetensors"), "transformers"),
}
for _spec, _factory, _probe in (
    (TIREX, _tirex, "tirex"),
    (CHRONOS_BOLT_SMALL, _chronos, "chronos"),
    (MOMENT_SMALL, _moment, "moment"),
):
    register_encoder(_spec, _PROBES[_probe])(_factory(diff=False))
    register_encoder(with_diff(_spec), _PROBES[_probe])(_factory(diff=True))

register_encoder(MANTIS, _hub_probe(MANTIS.weights, ("config.json", "model.safetensors"), "mantis"))(_mantis)
register_encoder(MINIROCKET, _package_probe("aeon"))(_minirocket)
