"""Time-series encoders against their reference packages: same series FILES, same weights, cosine >= 0.99999.

Every case starts from a file (``.csv``, ``.npy`` or ``.ts``) holding a real UCR series from the sets aeon ships
(GunPoint, ItalyPowerDemand, ACSF1, BasicMotions; one GunPoint series with a NaN gap). Ours reads it through the
query reader (``read_series``) or, for MiniRocket, the ``ucr:`` dataset adapter; the reference reads the same
file with numpy or aeon. Weights are small random checkpoints in each model's own on-disk format (the builders
of tests/modalities/timeseries/conftest.py; MOMENT's from golden_moment.py). fp32, CPU.

What is the reference's, and what is the recipe:

- ``timeseries/tirex``, ``timeseries/tirex-diff``: tirex-ts's own ``TiRexEmbedding`` (its ``load_model`` pointed at
  the local checkpoint): the recipe is tirex's (``data_augmentation=True`` gives [diff, plain, batch statistics];
  the statistics, fitted on the batch, are not part of the encoder and are left off).
- ``timeseries/chronos-bolt-small``, ``-diff``: chronos-forecasting's ``ChronosBoltPipeline.embed`` (its own
  scaling, patching, masking and [REG] token), with its T5 encoder called with ``output_hidden_states=True``:
  those tensors are the reference's. The recipe restated here: mean over the series' patch tokens ([REG]
  dropped), L2 per layer, layers x channels flattened layer-major, LayerNorm without affine (``recipe``).
- ``timeseries/moment-small``, ``-diff``: momentfm's ``MOMENT.embed`` hidden states (golden file, see
  golden_moment.py; live as well when momentfm is importable), on our documented input grid (left-padded and
  masked to 512 steps, or resized); the same recipe restated, over the series' last ceil(T/8) tokens.
- ``timeseries/mantis``: mantis-tsfm's ``MantisTrainer.transform`` (channels embedded apart and concatenated)
  after the resize of Mantis' README (``F.interpolate(size=512, mode="linear", align_corners=False)``).
- ``timeseries/minirocket``: aeon's ``MiniRocket(n_kernels=10000, random_state=0, n_jobs=1)`` fit on the same
  GunPoint train split (read by aeon from the same ``.ts`` file), transforming the same test series.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import embedforge.modalities.timeseries  # noqa: F401  (registers the encoders)
from embedforge.modalities.timeseries.raw import read_series
from embedforge.registry.encoders import ENCODERS, build_encoder
from tests.modalities.timeseries.conftest import chronos_dir, mantis_dir, tirex_dir  # noqa: F401  (fixtures)

COS_MIN = 0.99999
ENCODERS_CHECKED = (
    "timeseries/tirex",
    "timeseries/tirex-diff",
    "timeseries/chronos-bolt-small",
    "timeseries/chronos-bolt-small-diff",
    "timeseries/moment-small",
    "timeseries/moment-small-diff",
    "timeseries/mantis",
    "timeseries/minirocket",
)
GAP = (40, 55)


# ----------------------------------------------------------------------------------------- files and readers
def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.atleast_2d(a).astype(np.float64), np.atleast_2d(b).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def assert_parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    cos = cosine(ours, ref)
    print(f"{what}: 1 - cosine {1 - cos.min():.1e} (worst of {len(cos)})")
    assert cos.min() >= COS_MIN, f"{what}: cosine {cos.min():.7f} against the reference"


def write_ts(path: Path, x: np.ndarray, label: str = "1") -> Path:
    """One case as a .ts file (aeon's format), values as the float32 they are."""
    dims = ":".join(",".join("NaN" if np.isnan(v) else repr(float(v)) for v in row) for row in x)
    header = f"@problemName query\n@timeStamps false\n@univariate {str(len(x) == 1).lower()}\n"
    path.write_text(f"{header}@classLabel true 1 2\n@data\n{dims}:{label}\n")
    return path


def write_csv(path: Path, x: np.ndarray) -> Path:
    """One column per channel, time in rows, a header row (what ``read_series`` documents)."""
    rows = [",".join("nan" if np.isnan(v) else repr(float(v)) for v in col) for col in x.T]
    path.write_text(",".join(f"ch{c}" for c in range(len(x))) + "\n" + "\n".join(rows) + "\n")
    return path


def read_reference(path: Path) -> np.ndarray:
    """(channels, T) float32 read without our code: numpy for .npy/.csv, aeon for .ts."""
    if path.suffix == ".npy":
        return np.atleast_2d(np.load(path)).astype(np.float32)
    if path.suffix == ".csv":
        return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float32).T
    from aeon.datasets import load_from_ts_file

    X, _ = load_from_ts_file(str(path))
    return np.asarray(X[0], dtype=np.float32)


def _ucr(name: str, split: str = "test") -> np.ndarray:
    from aeon.datasets import load_classification

    X, _ = load_classification(name, split=split)
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, list[Path]]:
    """Query files of real UCR series: univariate (three lengths, one with a gap) and multivariate."""
    root = tmp_path_factory.mktemp("series")
    gun, italy, acsf = _ucr("GunPoint"), _ucr("ItalyPowerDemand"), _ucr("ACSF1")
    gap = gun[3].copy()
    gap[:, GAP[0] : GAP[1]] = np.nan
    np.save(root / "gunpoint1.npy", gun[1, 0])  # a 1-D .npy
    np.save(root / "italy0.npy", italy[0])
    np.save(root / "acsf0.npy", acsf[0])
    np.save(root / "basicmotions0.npy", _ucr("BasicMotions")[0])  # 6 x 100
    uni = [
        write_csv(root / "gunpoint0.csv", gun[0]),
        root / "gunpoint1.npy",
        write_ts(root / "gunpoint2.ts", gun[2]),
        root / "italy0.npy",
        write_csv(root / "italy5.csv", italy[5]),
        root / "acsf0.npy",
    ]
    return {
        "uni": uni,
        "gap": [write_csv(root / "gunpoint3_gap.csv", gap)],
        "multi": [root / "basicmotions0.npy", write_ts(root / "basicmotions1.ts", _ucr("BasicMotions")[1])],
    }


def ours(name: str, weights: str, paths: list[Path], channels: int = 1) -> np.ndarray:
    enc = (
        ENCODERS.get(name).factory(weights=weights, channels=channels)
        if channels > 1
        else build_encoder(name, weights=weights)
    )
    return enc.encode([enc.preprocess(read_series(str(p)), p.name) for p in paths])


# ------------------------------------------------------------------------------------------- the recipe
def recipe(per_channel: list[torch.Tensor], n_tokens: int) -> torch.Tensor:
    """Restated from tirex's ``process_embedding``: per channel (layers, tokens, d) -> mean over the last
    ``n_tokens`` tokens -> L2 per layer -> (layers, channels, d) flattened -> LayerNorm without affine."""
    pooled = torch.stack([h[:, -n_tokens:].double().mean(dim=1) for h in per_channel], dim=1)  # (layers, ch, d)
    pooled = F.normalize(pooled, p=2, dim=-1)
    flat = pooled.reshape(-1)
    return F.layer_norm(flat, flat.shape).float()


# ------------------------------------------------------------------------------------------------- TiRex
@pytest.fixture
def tirex_reference(tirex_dir, monkeypatch):  # noqa: F811
    """tirex's TiRexEmbedding built by its own __init__, its hub loader pointed at the local checkpoint."""
    import tirex.models.embedding as embedding
    from tirex.models.tirex import TiRexZero

    def load_model(path, device=None, compile=False, **kw):
        assert path == "NX-AI/TiRex"
        return TiRexZero.from_pretrained(str(tirex_dir / "model.ckpt"), backend="torch", device=device)

    monkeypatch.setattr(embedding, "load_model", load_model)
    return lambda augment: embedding.TiRexEmbedding(device="cpu", data_augmentation=augment, batch_size=4)


@pytest.mark.parametrize("name", ["timeseries/tirex", "timeseries/tirex-diff"])
@pytest.mark.parametrize("group", ["uni", "gap", "multi"])
def test_tirex_is_tirex_embedding(name, group, files, tirex_dir, tirex_reference):  # noqa: F811
    paths = files[group]
    channels = read_reference(paths[0]).shape[0]
    got = ours(name, str(tirex_dir), paths, channels)
    ref = tirex_reference(name.endswith("-diff"))
    dim = got.shape[1]  # the statistics after [diff, plain] are left off (fitted on the batch)
    expected = np.concatenate([ref(torch.from_numpy(read_reference(p)[None])).numpy()[:, :dim] for p in paths])
    assert_parity(got, expected, f"{name} {group}")


# ------------------------------------------------------------------------------------------ Chronos-Bolt
def chronos_layers(pipeline, series: np.ndarray) -> torch.Tensor:
    """ChronosBoltPipeline.embed on one series, every T5 encoder layer's output captured: (layers, patches, d)."""
    captured = {}
    encoder = pipeline.model.encoder
    forward = encoder.forward

    def with_hidden_states(*args, **kwargs):
        out = forward(*args, **{**kwargs, "output_hidden_states": True})
        captured["hidden"] = out.hidden_states
        return out

    encoder.forward = with_hidden_states
    try:
        embeddings, _ = pipeline.embed(torch.from_numpy(series))
    finally:
        del encoder.forward
    layers = torch.stack(list(captured["hidden"][1:]))[:, 0]  # (layers, patches + [REG], d)
    torch.testing.assert_close(layers[-1], embeddings[0], rtol=0, atol=1e-6)  # the pipeline's own embedding
    return layers[:, :-1] if pipeline.model.chronos_config.use_reg_token else layers


@pytest.mark.parametrize("name", ["timeseries/chronos-bolt-small", "timeseries/chronos-bolt-small-diff"])
@pytest.mark.parametrize("group", ["uni", "gap", "multi"])
def test_chronos_is_the_pipeline_encoder(name, group, files, chronos_dir):  # noqa: F811
    from chronos import ChronosBoltPipeline

    pipeline = ChronosBoltPipeline.from_pretrained(str(chronos_dir))
    paths = files[group]
    channels = read_reference(paths[0]).shape[0]
    got = ours(name, str(chronos_dir), paths, channels)
    expected = []
    for p in paths:
        x = read_reference(p)
        x = x[:, : int(np.flatnonzero(~np.isnan(x).all(0))[-1]) + 1]  # trailing padding: not part of the series
        views = ([np.diff(x, axis=-1)] if name.endswith("-diff") else []) + [x]
        parts = []
        for v in views:
            layers = [chronos_layers(pipeline, row) for row in v]
            parts.append(recipe(layers, layers[0].shape[1]))  # every patch token of the series
        expected.append(torch.cat(parts).numpy())
    assert_parity(got, np.stack(expected), f"{name} {group}")


# ------------------------------------------------------------------------------------------------ MOMENT
@pytest.fixture(scope="module")
def moment_golden(tmp_path_factory):
    from tests.reference.golden_moment import GOLDEN, GOLDEN_FILE, state_from_golden, write_checkpoint
    from tests.reference.make_golden import state_digest

    path = GOLDEN / GOLDEN_FILE
    if not path.exists():
        pytest.fail(f"{path} is missing: python tests/reference/golden_moment.py --repo <folder with momentfm>")
    with np.load(path) as g:
        meta = json.loads(str(g["meta"]))
        arrays = {k: g[k] for k in g.files if k != "meta"}
    state = state_from_golden(meta, arrays["state_scale"], arrays["state_offset"])
    assert state_digest(state) == meta["state_sha256"], "the regenerated weights are not the ones momentfm ran"
    weights = write_checkpoint(tmp_path_factory.mktemp("moment"), state, meta["config"])
    return meta, arrays, weights


def moment_expected(arrays: dict, case: str, diff: bool, patch: int, seq_len: int) -> np.ndarray:
    parts = []
    series = arrays[f"{case}_series"]
    views = (["_diff"] if diff else []) + [""]
    for view in views:
        steps = len(series) - (1 if view else 0)
        n_tokens = min(-(-steps // patch), seq_len // patch)
        hidden = torch.from_numpy(arrays[f"{case}{view}_hidden"]).permute(1, 0, 2)  # (layers, tokens, d)
        parts.append(recipe([hidden], n_tokens))
    return torch.cat(parts).numpy()


@pytest.mark.parametrize("name", ["timeseries/moment-small", "timeseries/moment-small-diff"])
def test_moment_is_momentfm_embed(name, moment_golden, tmp_path):
    meta, arrays, weights = moment_golden
    cfg = meta["config"]
    paths = []
    for i, case in enumerate(meta["cases"]):  # the golden's series, as files: .npy and .csv in turn
        x = arrays[f"{case}_series"][None]
        paths.append(write_csv(tmp_path / f"{case}.csv", x) if i % 2 else tmp_path / f"{case}.npy")
        if not i % 2:
            np.save(paths[-1], x)
    for p, case in zip(paths, meta["cases"]):
        np.testing.assert_array_equal(read_reference(p)[0], arrays[f"{case}_series"])
    got = ours(name, str(weights), paths)
    diff = name.endswith("-diff")
    expected = np.stack([moment_expected(arrays, c, diff, cfg["patch_len"], cfg["seq_len"]) for c in meta["cases"]])
    assert_parity(got, expected, name)


def test_moment_golden_is_what_momentfm_computes_now(moment_golden):
    """Where momentfm is importable (``pip install --no-deps momentfm==0.1.4``), it still gives the golden."""
    pytest.importorskip("momentfm")
    from tests.reference.golden_moment import grid, load_reference, reference_hidden

    meta, arrays, weights = moment_golden
    model = load_reference(weights)
    for case in meta["cases"]:
        x, mask = grid(arrays[f"{case}_series"])
        np.testing.assert_array_equal(x, arrays[f"{case}_grid"])
        np.testing.assert_allclose(reference_hidden(model, x, mask), arrays[f"{case}_hidden"], atol=1e-5)


# ------------------------------------------------------------------------------------------------ Mantis
def mantis_resize(X: np.ndarray, size: int) -> torch.Tensor:
    """Mantis' README: ``F.interpolate(torch.tensor(X, dtype=torch.float), size=512, mode='linear',
    align_corners=False)`` (512 is the pre-trained length; the tiny test model's is its own seq_len)."""
    return F.interpolate(torch.tensor(X, dtype=torch.float), size=size, mode="linear", align_corners=False)


@pytest.mark.parametrize("group", ["uni", "multi"])
def test_mantis_is_mantis_trainer_transform(group, files, mantis_dir):  # noqa: F811
    from mantis.architecture import MantisV1
    from mantis.trainer import MantisTrainer

    network = MantisV1(device="cpu").from_pretrained(str(mantis_dir))  # as Mantis' README loads it
    trainer = MantisTrainer(device="cpu", network=network)
    paths = files[group]
    channels = read_reference(paths[0]).shape[0]
    got = ours("timeseries/mantis", str(mantis_dir), paths, channels)
    expected = np.concatenate(
        [trainer.transform(mantis_resize(read_reference(p)[None], network.seq_len).numpy()) for p in paths]
    )
    assert_parity(got, expected, f"timeseries/mantis {group}")


# -------------------------------------------------------------------------------------------- MiniRocket
def test_minirocket_is_aeons_fitted_on_the_same_train_split(tmp_path):
    from aeon.datasets import load_classification, load_from_ts_file
    from aeon.transformations.collection.convolution_based import MiniRocket

    folder = tmp_path / "GunPoint"
    folder.mkdir()
    for split in ("train", "test"):  # the UCR layout our ``ucr:`` adapter reads, written as .ts files
        X, y = load_classification("GunPoint", split=split)
        lines = [
            ",".join(repr(float(v)) for v in np.float32(x[0])) + f":{label}" for x, label in zip(X, y, strict=True)
        ]
        header = "@problemName GunPoint\n@timeStamps false\n@univariate true\n@classLabel true 1 2\n@data\n"
        (folder / f"GunPoint_{split.upper()}.ts").write_text(header + "\n".join(lines) + "\n")
    enc = build_encoder("timeseries/minirocket", weights=f"ucr:{folder}")
    assert enc.spec.input["seed"] == 0 and enc.spec.input["n_kernels"] == 10000

    X_train, _ = load_from_ts_file(str(folder / "GunPoint_TRAIN.ts"))
    X_test, _ = load_from_ts_file(str(folder / "GunPoint_TEST.ts"))
    reference = MiniRocket(n_kernels=10000, random_state=0, n_jobs=1).fit(X_train)
    for ours_part, ref_part in zip(enc.transform.parameters, reference.parameters, strict=True):
        np.testing.assert_array_equal(ours_part, ref_part)  # the same fitted dilations, weights and biases

    from embedforge.registry.datasets import open_dataset

    ds = open_dataset(f"ucr:{folder}")
    test = [it for it in ds.items() if it.split == "test"][:40]
    got = enc.encode([enc.preprocess(ds.load(it), it.id) for it in test])
    assert_parity(got, reference.transform(X_test[: len(test)]), "timeseries/minirocket (dataset)")

    query = write_csv(tmp_path / "query.csv", np.float32(X_test[41]))  # a query file, through read_series
    got_query = enc.encode([enc.preprocess(read_series(str(query)), "query")])
    assert_parity(got_query, reference.transform(X_test[41:42]), "timeseries/minirocket (query file)")


# -------------------------------------------------------------------------------------------- bookkeeping
def test_every_timeseries_encoder_is_checked_and_names_its_reference():
    registered = {name for name in ENCODERS.names() if name.startswith("timeseries/")}
    assert registered == set(ENCODERS_CHECKED)
    for name in ENCODERS_CHECKED:
        assert ENCODERS.get(name).spec.reference, f"{name}: spec.reference is empty"
