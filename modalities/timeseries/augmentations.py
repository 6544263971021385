"""The two embedding augmentations of the TiRex classification paper, as leaderboard options."""

from __future__ import annotations

from embedforge.registry.augmentations import AUGMENTATIONS, Augmentation


def _patch_stats():
    from embedforge.modalities.timeseries.augment import PatchStats

    return PatchStats()


AUGMENTATIONS.register("diff", Augmentation("diff", variant_suffix="-diff"))
AUGMENTATIONS.register("stats", Augmentation("stats", raw_factory=_patch_stats))
