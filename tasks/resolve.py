"""What the leaderboard embeds with: dataset references, encoder weights and recipes, resolved from the registries."""

from __future__ import annotations

from embedforge.registry.modalities import modality


def dataset_ref(*, name: str, modality_name: str) -> str:
    """``GunPoint`` -> ``ucr:GunPoint`` (the modality's default adapter); ``kind:arg`` is kept as given."""
    kind, sep, _ = name.partition(":")
    if sep and kind and "/" not in kind:
        return name
    return f"{modality(modality_name).default_adapter}:{name}"


def weights_for(*, encoder: str, ref: str, weights: dict[str, str]) -> str | None:
    """Fit-on-data encoders (MiniRocket) take the dataset as their weights; others the user's override."""
    from embedforge.registry.encoders import encoder_entry

    if encoder_entry(encoder).spec.fits_on_data:
        return ref
    return weights.get(encoder)


def recipe_for(*, encoder: str, ref: str) -> dict[str, str]:
    """Multichannel data needs a channel-wise encoder built for that many channels."""
    from embedforge.registry.datasets import open_dataset
    from embedforge.registry.encoders import encoder_entry

    spec = encoder_entry(encoder).spec
    if spec.channels is None or spec.fits_on_data:
        return {}  # a channel count is a recipe; cardiac's lead-slot list is fixed by the encoder
    ds = open_dataset(ref)
    values = ds.load(ds.items()[0]).values
    channels = 1 if values.ndim == 1 else int(values.shape[0])
    return {"channels": str(channels)} if channels > 1 else {}
