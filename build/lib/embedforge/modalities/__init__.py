"""Per-modality encoders, dataset adapters and heads; each module registers itself on import."""
