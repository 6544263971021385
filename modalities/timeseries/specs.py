"""Identities of the time-series encoders, importable without torch (dims are for the default weights).

Built encoders report their real ``spec.dim`` (from the loaded config, the recipe and ``channels``):
hidden-state encoders give n_layers * d_model * channels (x2 with differences).
"""

from __future__ import annotations

from dataclasses import replace

from embedforge.modalities.base import EncoderSpec

TIREX = EncoderSpec(
    name="timeseries/tirex",
    dim=12 * 512,
    input={"channels": 1, "patch": 32, "context": 2048, "nan": "masked", "pooling": "mean-last", "layers": "all"},
    weights="NX-AI/TiRex",
    description="TiRex 35M xLSTM forecaster; all 12 blocks' hidden states pooled over the series' tokens",
    license="NXAI Community License",
    reference="tirex-ts TiRexEmbedding (its own recipe)",
)
CHRONOS_BOLT_SMALL = EncoderSpec(
    name="timeseries/chronos-bolt-small",
    dim=6 * 512,
    input={"channels": 1, "patch": 16, "context": 2048, "nan": "masked", "pooling": "mean-last", "layers": "all"},
    weights="amazon/chronos-bolt-small",
    description="Chronos-Bolt small; all 6 T5 encoder layers pooled over the series' patch tokens ([REG] dropped)",
    license="Apache-2.0",
    reference="chronos-forecasting ChronosBoltPipeline.embed, all layers (hidden-state recipe)",
)
MOMENT_SMALL = EncoderSpec(
    name="timeseries/moment-small",
    dim=8 * 512,
    input={
        "channels": 1,
        "patch": 8,
        "seq_len": 512,
        "pad": "left, masked",
        "longer": "resized to 512",
        "pooling": "mean-last",
        "layers": "all",
    },
    weights="AutonLab/MOMENT-1-small",
    description="MOMENT-1-small T5 encoder (masked reconstruction); all 8 layers pooled over the series' patches",
    license="MIT",
    reference="momentfm MOMENT.embed, all layers (hidden-state recipe; golden file)",
)
MANTIS = EncoderSpec(
    name="timeseries/mantis",
    dim=256,
    input={"channels": 1, "seq_len": 512, "resize": "linear", "nan": "interpolated", "token": "cls"},
    weights="paris-noah/Mantis-8M",
    description="Mantis-8M time-series classification foundation model (CLS token per channel)",
    license="MIT",
    reference="mantis-tsfm MantisTrainer.transform after the README's F.interpolate resize",
)
MINIROCKET = EncoderSpec(
    name="timeseries/minirocket",
    dim=9996,
    input={
        "n_kernels": 10000,
        "max_dilations_per_kernel": 32,
        "seed": 0,
        "fit": "train split of `weights`",
        "length": "resized to the longest training series",
        "nan": "interpolated",
    },
    weights="none (fit on a dataset's train split: weights='ucr:NAME')",
    description="MiniRocket random-convolution transform (aeon 1.6), fit on the training split",
    license="BSD-3-Clause",
    reference="aeon MiniRocket (same seed, same train split)",
)


def with_diff(spec: EncoderSpec) -> EncoderSpec:
    """The differencing variant: its own name (hence table) and twice the dimension."""
    return replace(
        spec,
        name=spec.name + "-diff",
        dim=2 * spec.dim,
        input={**spec.input, "diff": True},
        description=spec.description + "; plus the same embedding of first differences",
    )
