"""Compact-vector transforms: their algebra on numpy, and derived tables with lineage in a real LanceDB store."""

import numpy as np
import pytest

from embedforge.registry.registry import RegistryError
from embedforge.registry.transforms import build_transform
from embedforge.tasks.store import VectorStore
from embedforge.tasks.transforms import derive, lineage, search_derived, transform_features

DIM = 32


def anisotropic(n: int, seed: int = 0) -> np.ndarray:
    """Correlated, off-centre vectors with very different variances per direction (like raw embeddings)."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(42).standard_normal((DIM, DIM)) * np.geomspace(5, 0.05, DIM)
    return (rng.standard_normal((n, DIM)) @ mix.T + 3.0).astype(np.float32)


def test_whitening_whitened_data_is_the_identity():
    Y = build_transform("whiten").fit(anisotropic(4000)).apply(anisotropic(4000))
    assert np.allclose(np.cov(Y, rowvar=False, bias=True), np.eye(DIM), atol=1e-3)
    again = build_transform("whiten").fit(Y).apply(Y)
    assert np.abs(again - Y).max() < 1e-3  # tolerance: float32 round-off of a 4000 x 32 covariance


def test_whitening_keeps_k_directions_with_unit_covariance():
    X = anisotropic(3000)
    Y = build_transform("whiten", 8).fit(X).apply(X)
    assert Y.shape == (3000, 8) and np.allclose(np.cov(Y, rowvar=False, bias=True), np.eye(8), atol=1e-3)


def test_truncation_keeps_the_first_k_dims():
    X = anisotropic(50)
    assert np.array_equal(build_transform("truncate", 5).fit(X).apply(X), X[:, :5])


def test_pca_at_full_rank_keeps_distances_and_truncated_keeps_most_variance():
    X = anisotropic(500)
    Z = build_transform("pca").fit(X).apply(X)
    d = lambda A: np.linalg.norm(A[:, None] - A[None, :50], axis=-1)
    assert np.allclose(d(Z[:50]), d(X[:50]), rtol=1e-3, atol=1e-3)
    pca8 = build_transform("pca", 8).fit(X)
    assert pca8.apply(X).shape == (500, 8) and float(pca8.state["explained"]) > 0.9


def test_int8_round_trip_is_within_half_a_step():
    X = anisotropic(2000)
    q = build_transform("int8").fit(X)
    codes = q.codes(X)
    assert codes.dtype == np.int8 and q.bytes_per_vector(DIM) == DIM
    inside = (q.state["lo"] <= X) & (q.state["lo"] + 255 * q.state["scale"] >= X)
    err = np.abs(q.decode(codes) - X)[inside] / np.broadcast_to(q.state["scale"], X.shape)[inside]
    assert err.max() <= 0.5 + 1e-3


def test_unknown_transform_and_bad_k_are_clear_errors():
    with pytest.raises(RegistryError, match="unknown transform 'whitten'; did you mean whiten"):
        build_transform("whitten")
    with pytest.raises(ValueError, match="k=64 must be between 1 and"):
        build_transform("pca", 64).fit(anisotropic(10))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A 3000-row table in the store; a third of the rows are the train split."""
    store = VectorStore(str(tmp_path_factory.mktemp("transforms") / "db"))
    ident = {"name": "test/aniso", "dim": DIM, "fingerprint": "aniso", "weights": "none", "input": {}}
    X = anisotropic(3000, seed=1)
    rows = [
        dict(
            id=f"v{i}",
            uri=f"v{i}",
            content_hash=f"h{i}",
            split="train" if i % 3 == 0 else "test",
            group=None,
            labels={"y": i % 2},
            dataset="d",
            vector=v,
        )
        for i, v in enumerate(X)
    ]
    store.upsert("aniso", ident, rows)
    return store, X


def test_derived_table_records_its_lineage(store):
    store, _ = store
    info = derive(store=store, source="aniso", name="whiten", k=16)
    assert info["table"] == "aniso--whiten16" and store.count("aniso--whiten16") == 3000
    rec = lineage(store, "aniso--whiten16")
    assert rec["transform"] == "whiten" and rec["k"] == 16 and rec["source_table"] == "aniso"
    assert rec["fit_rows"] == 1000 and rec["fit_split"] == "train" and rec["bytes_per_vector"] == 64
    ident = store.identity("aniso--whiten16")
    assert ident["dim"] == 16 and ident["fingerprint"] == "aniso" and ident["transform"] == rec
    assert lineage(store, "aniso") is None


@pytest.mark.parametrize(("name", "k", "bytes_"), [("whiten", None, 4 * DIM), ("pca", 16, 64), ("int8", None, DIM)])
def test_search_on_a_derived_table_finds_the_true_neighbour(store, name, k, bytes_):
    store, X = store
    info = derive(store=store, source="aniso", name=name, k=k)
    assert info["bytes_per_vector"] == bytes_
    rng = np.random.default_rng(5)
    picks = rng.choice(len(X), 40, replace=False)
    queries = X[picks] + 0.001 * X.std(0) * rng.standard_normal((40, DIM)).astype(np.float32)
    top = [search_derived(store=store, table=info["table"], vector=q, k=5)[0]["id"] for q in queries]
    assert np.mean([t == f"v{i}" for t, i in zip(top, picks)]) >= 0.9


def test_binary_search_with_rescoring_ranks_the_true_neighbour_first(store):
    store, X = store
    info = derive(store=store, source="aniso", name="binary")
    assert info["bytes_per_vector"] == DIM // 8 and info["quantized"]
    rng = np.random.default_rng(6)
    picks = rng.choice(len(X), 60, replace=False)
    queries = X[picks] + 0.01 * X.std(0) * rng.standard_normal((60, DIM)).astype(np.float32)
    first = [search_derived(store=store, table=info["table"], vector=q, k=10, rescore=8)[0]["id"] for q in queries]
    assert np.mean([t == f"v{i}" for t, i in zip(first, picks)]) >= 0.8


def test_transform_features_fit_on_the_train_rows_only():
    X = anisotropic(400)
    split = ["train" if i < 100 else "test" for i in range(400)]
    Y, nbytes = transform_features(X=X, split=split, spec="whiten:4")
    assert Y.shape == (400, 4) and nbytes == 16
    assert np.allclose(np.cov(Y[:100], rowvar=False, bias=True), np.eye(4), atol=1e-3)  # unit on what it saw
    assert transform_features(X=X, split=split, spec="none") == (X, 4 * DIM)
