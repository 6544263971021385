"""Time series: UCR/UEA adapter, frozen forecasters (TiRex, Chronos-Bolt, MOMENT), Mantis, MiniRocket, heads."""

from embedforge.modalities.timeseries import dataset, encoders, heads  # noqa: F401  (registration side effects)
