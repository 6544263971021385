"""A tiny deterministic encoder and a folder-of-arrays dataset, registered for spine tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Dataset, Encoder, EncoderSpec, Item, ItemError, Series, file_sha256
from embedforge.registry.datasets import DATASETS
from embedforge.registry.encoders import ENCODERS, register_encoder
from embedforge.registry.modalities import MODALITIES, Examples, Modality, RawInput, register_modality

TINY = EncoderSpec(name="test/tiny", dim=8, input={"channels": 1}, weights="none", description="test only")


class TinyEncoder(Encoder):
    """Summary statistics through a fixed random projection: cheap, deterministic, informative."""

    spec = TINY

    def __init__(self, seed: int = 0) -> None:
        self.weights_source = f"seed:{seed}"
        self.proj = np.random.default_rng(seed).standard_normal((6, TINY.dim)).astype(np.float32)
        self.calls = 0

    def preprocess(self, sample: Series, item_id: str) -> np.ndarray:
        if not isinstance(sample, Series):
            raise ItemError(f"{item_id}: expected a Series, got {type(sample).__name__}")
        x = np.asarray(sample.values, dtype=np.float32).reshape(-1)
        if x.size == 0:
            raise ItemError(f"{item_id}: empty signal")
        if not np.all(np.isfinite(x)):
            raise ItemError(f"{item_id}: signal contains NaN or inf")
        return x

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        self.calls += len(inputs)
        feats = np.stack(
            [
                [
                    x.mean(),
                    x.std(),
                    np.abs(np.diff(x)).mean() if x.size > 1 else 0.0,
                    x.max(),
                    x.min(),
                    np.log1p(x.size),
                ]
                for x in inputs
            ]
        ).astype(np.float32)
        return feats @ self.proj

    def _compute_fingerprint(self) -> str:
        return "tiny-" + self.weights_source


class ArrayFolder(Dataset):
    """Every ``*.npy`` under a folder is an item; ``labels.csv`` (id,label,split,group) is optional."""

    modality = "test"

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def items(self) -> list[Item]:
        meta = {}
        if (self.root / "labels.csv").exists():
            with open(self.root / "labels.csv") as f:
                meta = {r["id"]: r for r in csv.DictReader(f)}
        out = []
        for path in sorted(self.root.rglob("*.npy")):
            rel = str(path.relative_to(self.root))
            m = meta.get(rel, {})
            labels = {k: v for k, v in m.items() if k not in ("id", "split", "group")}
            out.append(Item(rel, str(path), file_sha256(path), labels, m.get("split"), m.get("group")))
        return out

    def load(self, item: Item) -> Series:
        try:
            return Series(np.load(item.uri, allow_pickle=False))
        except Exception as exc:
            raise ItemError(f"{item.id}: cannot read array ({exc})") from exc


def register() -> None:
    """Idempotent: the module may be imported by pytest and by a plugin list."""
    if "test/tiny" not in ENCODERS:
        register_encoder(TINY, probe=lambda: None)(lambda weights=None, device="cpu": TinyEncoder(int(weights or 0)))
    if "arrays" not in DATASETS:
        DATASETS.register("arrays", lambda arg, **opts: ArrayFolder(arg))
    if "test" not in MODALITIES:
        register_modality(
            Modality(
                name="test",
                sample_type=Series,
                adapters=("arrays",),
                read_query=lambda path: Series(np.load(path, allow_pickle=False)),
                raw_input=RawInput(column="series", decode=_decode_array, suffix=".npy"),
                query_suffixes=(".npy",),
                examples=Examples(example, example_query, example_datasets),
            )
        )


def example(seed: int) -> Series:
    """A noisy ramp of 50 steps (the conformance suite's sample)."""
    rng = np.random.default_rng(seed)
    return Series((np.linspace(0, 1 + seed, 50) + 0.1 * rng.standard_normal(50)).astype(np.float32))


def example_query(folder: str, seed: int) -> str:
    path = Path(folder) / f"query{seed}.npy"
    np.save(path, example(seed).values)
    return str(path)


def example_datasets(folder: str) -> dict[str, str]:
    """An ``arrays`` folder of 6 series, 4 train and 2 test."""
    root = Path(folder) / "arrays"
    root.mkdir(parents=True, exist_ok=True)
    lines = ["id,label,split,group"]
    for i in range(6):
        np.save(root / f"s{i}.npy", example(i).values)
        lines.append(f"s{i}.npy,{i % 2},{'train' if i < 4 else 'test'},g{i // 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return {"arrays": f"arrays:{root}"}


def _decode_array(data: bytes, name: str) -> Series:
    """A request's bytes of one ``.npy`` file -> Series."""
    import io

    try:
        return Series(np.load(io.BytesIO(data), allow_pickle=False))
    except Exception as exc:
        raise ItemError(f"{name}: not a .npy array ({exc})") from None


register()
