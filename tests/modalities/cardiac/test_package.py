"""Importing the cardiac package registers its parts without loading torch, neurokit2 or wfdb."""

import subprocess
import sys

CODE = """
import sys
import embedforge.modalities.cardiac
from embedforge.registry.datasets import DATASETS
from embedforge.registry.encoders import ENCODERS
heavy = sorted({"torch", "neurokit2", "wfdb", "scipy.signal", "pandas"} & set(sys.modules))
print(ENCODERS.names("cardiac/"), [n for n in ("wfdb", "ecgarray", "ecgsim") if n in DATASETS], heavy)
"""


def test_import_registers_everything_and_stays_light():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['cardiac/csfm-base', 'cardiac/spectrum'] ['wfdb', 'ecgarray', 'ecgsim'] []"
