"""``python -m embedforge.flows.cli``: the same as the ``embedforge`` console script."""

from embedforge.flows.cli import console_main

console_main()
