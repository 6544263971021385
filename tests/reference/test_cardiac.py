"""Cardiac encoders against their references, from the same input FILES: cosine >= 0.99999 (fp32, CPU).

- ``cardiac/csfm-base``: the CSFM code lives only in a public repository (guxiao0822/Cardiac-Sensing-FM); ours is
  a re-implementation loading its checkpoint format. golden_csfm.py ran the repository's own ``network/model.py``
  and ``utils/preprocess.py`` as its README extracts features, on input files that sit in tests/reference/golden/
  with small seeded weights; here ours reads the same files (``read_cardiac``), loads the same weights from a
  ``.pth`` in the reference layout and must give the reference's vector.
- ``cardiac/spectrum`` has no weights and no outside reference: it is compared with a direct numpy/scipy statement
  of its documented recipe (neurokit2 cleaning, z-score, first 10 s at 250 Hz; scipy's periodogram with a
  symmetric Hann window; 24 triangular bands with log-spaced edges over 0.5-40 Hz; log relative power + 1e-6;
  zeros for absent slots). Files: the same neurokit2 signals, and 8 s of real MIT-BIH ECG at 360 Hz as a WFDB
  record (resampled to 250 Hz with ``scipy.signal.resample_poly(padtype="line")``), when that ECG can be had.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import embedforge.modalities.cardiac  # noqa: F401  (registers the encoders)
from embedforge.modalities.cardiac.raw import read_cardiac
from embedforge.registry.encoders import ENCODERS, build_encoder
from tests.modalities.cardiac.conftest import mitbih_ecg  # noqa: F401  (fixture: real ECG, cached, never committed)
from tests.reference.golden_csfm import GOLDEN, GOLDEN_FILE, INPUTS, checkpoint_state, save_checkpoint

COS_MIN = 0.99999
ENCODERS_CHECKED = ("cardiac/csfm-base", "cardiac/spectrum")
SLOTS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "PPG")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def assert_parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    cos = cosine(ours, ref)
    print(f"{what}: 1 - cosine {1 - cos:.1e}")
    assert cos >= COS_MIN, f"{what}: cosine {cos:.7f} against the reference"


def embed(encoder, path: Path) -> np.ndarray:
    return encoder.encode([encoder.preprocess(read_cardiac(str(path)), path.name)])[0]


# ----------------------------------------------------------------------------------------------- CSFM
@pytest.fixture(scope="module")
def csfm(tmp_path_factory):
    from tests.reference.make_golden import state_digest

    path = GOLDEN / GOLDEN_FILE
    if not path.exists():
        pytest.fail(f"{path} is missing: python tests/reference/golden_csfm.py --repo <CSFM checkout>")
    with np.load(path) as g:
        meta = json.loads(str(g["meta"]))
        arrays = {k: g[k] for k in g.files if k != "meta"}
    state = checkpoint_state(meta, arrays["state_scale"], arrays["state_offset"])
    assert state_digest(state) == meta["state_sha256"], "the regenerated weights are not the ones the reference ran"
    weights = save_checkpoint(tmp_path_factory.mktemp("csfm") / "csfm_small.pth", state)
    return meta, arrays, build_encoder("cardiac/csfm-base", weights=str(weights))


def test_csfm_golden_is_the_reference_repositorys(csfm):
    meta, _, encoder = csfm
    assert meta["reference"] == "guxiao0822/Cardiac-Sensing-FM" and len(meta["commit"]) == 40
    assert all(f["as_committed"] for f in meta["files"].values())
    arch = meta["arch"]
    cfg = encoder.model.cfg
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.mlp_dim) == (arch["dim"], arch["depth"], arch["heads"], arch["mlp_dim"])
    assert [c["file"] for c in meta["cases"]] == list(INPUTS)


@pytest.mark.parametrize("name", list(INPUTS))
def test_csfm_base_is_the_reference_model(csfm, name):
    meta, arrays, encoder = csfm
    path = GOLDEN / name
    stem = path.stem
    inp = encoder.preprocess(read_cardiac(str(path)), name)
    case = next(c for c in meta["cases"] if c["file"] == name)
    present = np.flatnonzero(inp.channel_mask)
    assert sorted(present.tolist()) == sorted(case["channels"]) and inp.n_valid == 2500
    reference_input = arrays[f"{stem}_preprocessed"].astype(np.float32)  # float16 copy: a diagnostic only
    order = [c for c in case["channels"] if c != 12] + [c for c in case["channels"] if c == 12]
    np.testing.assert_allclose(inp.x[order], reference_input, atol=2e-2)
    assert_parity(encoder.encode([inp])[0], arrays[f"{stem}_features"], f"cardiac/csfm-base {name}")


# ------------------------------------------------------------------------------------------- spectrum
def read_reference(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """Lead name -> samples and the rate, read without our code (numpy, or wfdb for a record)."""
    if path.suffix == ".hea":
        import wfdb

        record = wfdb.rdrecord(str(path.with_suffix("")))
        return {n: record.p_signal[:, i] for i, n in enumerate(record.sig_name)}, float(record.fs)
    if path.suffix == ".npy":
        x = np.load(path).astype(np.float64)
        return dict(zip(SLOTS[: len(x)], x, strict=True)), 250.0
    names = path.read_text().splitlines()[0].split(",")
    x = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).T
    return dict(zip(names, x, strict=True)), 250.0


def spectrum_reference(path: Path) -> np.ndarray:
    """The documented recipe of ``cardiac/spectrum``, stated directly with numpy, scipy and neurokit2."""
    import neurokit2 as nk
    from scipy.signal import periodogram, resample_poly
    from scipy.signal.windows import hann

    leads, rate = read_reference(path)
    out = np.zeros((len(SLOTS), 24))
    for name, x in leads.items():
        slot = {"MLII": "II"}.get(name, name)
        if rate != 250:
            ratio = Fraction(250) / Fraction(rate).limit_denominator(10_000)
            x = resample_poly(x, ratio.numerator, ratio.denominator, padtype="line")
        x = (nk.ppg_clean if slot == "PPG" else nk.ecg_clean)(x, sampling_rate=250)[:2500]
        z = (x - x.mean()) / x.std()
        freqs, power = periodogram(z, fs=250, window=hann(len(z), sym=True), detrend=False, scaling="spectrum")
        edges = np.geomspace(0.5, 40.0, 26)
        bands = np.array(
            [power @ np.interp(freqs, edges[b : b + 3], [0.0, 1.0, 0.0], left=0, right=0) for b in range(24)]
        )
        out[SLOTS.index(slot)] = np.log(bands / bands.sum() + 1e-6)
    return out.ravel()


@pytest.fixture(scope="module")
def mitbih_record(mitbih_ecg, tmp_path_factory) -> Path:  # noqa: F811
    """8 s of the real MIT-BIH ECG as a WFDB record at its own 360 Hz (shorter than CSFM's 10 s window)."""
    import wfdb

    root = tmp_path_factory.mktemp("wfdb")
    signal = mitbih_ecg[3600 : 3600 + 8 * 360, None]
    wfdb.wrsamp("mitbih8s", fs=360, units=["mV"], sig_name=["MLII"], p_signal=signal, fmt=["16"], write_dir=str(root))
    return root / "mitbih8s.hea"


@pytest.mark.parametrize("name", list(INPUTS))
def test_spectrum_is_its_documented_recipe(name):
    path = GOLDEN / name
    assert_parity(embed(build_encoder("cardiac/spectrum"), path), spectrum_reference(path), f"cardiac/spectrum {name}")


def test_spectrum_on_a_real_ecg_record_at_another_rate(mitbih_record):
    got = embed(build_encoder("cardiac/spectrum"), mitbih_record)
    assert_parity(got, spectrum_reference(mitbih_record), "cardiac/spectrum MIT-BIH 8 s, 360 Hz")


def test_every_cardiac_encoder_is_checked_and_names_its_reference():
    assert {n for n in ENCODERS.names() if n.startswith("cardiac/")} == set(ENCODERS_CHECKED)
    for name in ENCODERS_CHECKED:
        assert ENCODERS.get(name).spec.reference, f"{name}: spec.reference is empty"
