"""Named, lazily-built components: encoders, datasets and heads, namespaced by modality."""

from embedforge.registry.registry import Registry, RegistryError

__all__ = ["Registry", "RegistryError"]
