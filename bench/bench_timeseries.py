"""Time series: embed-flow throughput against a bare loop, and a warm leaderboard rerun against the cold run.

Prints ratios measured in this run (goals: flow/bare throughput >= 0.95, warm/cold leaderboard <= 0.03):
    .venv/bin/python bench/bench_timeseries.py                 # MiniRocket + Chronos-Bolt on ACSF1, leaderboard
    .venv/bin/python bench/bench_timeseries.py --encoder timeseries/tirex --dataset GunPoint --skip leaderboard

Forecasters (tirex, chronos-bolt-small) run on random weights written to a temp dir in their own on-disk
format (no hub access here), at a size given by --layers/--d-model; pass --weights DIR for real ones.
MiniRocket is fit on the train split of the benchmark dataset. --repeat N makes the workload N times
larger with jittered copies of every series (a UCR .tsv folder), so fixed costs do not hide the rate.
Wall time is noisy on a shared machine: each side runs --trials times (interleaved) and the best counts;
CPU seconds (this process and its children, i.e. the ephemeral Prefect server) are printed too, and torch
runs --threads threads (default 1) so that other jobs on the machine disturb the figures less.
--tasks also times the flow's tasks called as plain functions (no Prefect), splitting the gap into the
store's and plan's share and Prefect's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import cpu_seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
FORECASTERS = ("timeseries/tirex", "timeseries/chronos-bolt-small")


# ------------------------------------------------------------------------------- fixtures
def random_tirex(root: Path, layers: int, d_model: int, patch: int = 32) -> str:
    """A Lightning-style ``model.ckpt`` of random TiRex weights (torch sLSTM backend)."""
    import torch
    from tirex.models.tirex import TiRexZero

    cfg = {
        "input_patch_size": patch,
        "output_patch_size": patch,
        "quantiles": QUANTILES,
        "input_ff_dim": 2 * d_model,
        "block_kwargs": {"num_blocks": layers, "embedding_dim": d_model, "num_heads": 4, "ffn_proj_factor": 2.6667},
    }
    torch.manual_seed(0)
    model = TiRexZero(backend="torch", model_config=cfg, train_ctx_len=2048)
    with torch.no_grad():
        for p in model.parameters():  # sLSTM kernels are torch.empty until loaded
            p.normal_(0.0, 0.2)
    root.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"hyper_parameters": {"model_config": cfg, "train_ctx_len": 2048}, "state_dict": model.state_dict()},
        root / "model.ckpt",
    )
    return str(root)


def random_chronos(root: Path, layers: int, d_model: int, patch: int = 16) -> str:
    """``config.json`` + ``model.safetensors`` of a random Chronos-Bolt (T5 encoder, [REG] token)."""
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    cfg = T5Config(
        d_model=d_model,
        d_ff=4 * d_model,
        num_layers=layers,
        num_decoder_layers=1,
        num_heads=max(1, d_model // 64),
        d_kv=64,
        vocab_size=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        architectures=["ChronosBoltModelForForecasting"],
        chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config={
            "context_length": 2048,
            "prediction_length": 64,
            "input_patch_size": patch,
            "input_patch_stride": patch,
            "quantiles": QUANTILES,
            "use_reg_token": True,
        },
    )
    torch.manual_seed(0)
    ChronosBoltModelForForecasting(cfg).save_pretrained(root)
    return str(root)


def forecaster_weights(encoder: str, root: Path, layers: int, d_model: int) -> str:
    """Random weights for a (possibly ``-diff``) forecaster, written once under ``root``."""
    base = encoder.removesuffix("-diff")
    if base == "timeseries/tirex":
        return random_tirex(root / "tirex", layers, d_model)
    if base == "timeseries/chronos-bolt-small":
        return random_chronos(root / "chronos", layers, d_model)
    raise SystemExit(f"no random-weight builder for {encoder}; pass --weights DIR (choices: {FORECASTERS})")


def enlarged_dataset(name: str, repeat: int, root: Path, seed: int = 0) -> str:
    """``ucr:NAME`` itself, or a UCR .tsv folder holding ``repeat`` jittered copies of every series."""
    import numpy as np

    from embedforge.modalities.timeseries.dataset import read_split

    if repeat <= 1:
        return f"ucr:{name}"
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        series, labels = read_split(name, split)
        if any(x.shape[0] != 1 for x in series):
            raise SystemExit(f"--repeat needs a univariate set; {name} has several channels")
        lines = []
        for k in range(repeat):  # distinct content, else the store's content-hash dedup skips the copies
            for x, y in zip(series, labels):
                v = x[0] + (0 if k == 0 else rng.normal(0, 1e-3 * (np.nanstd(x[0]) or 1.0), x.shape[1]))
                lines.append("\t".join([y, *(f"{float(a):.6g}" for a in v)]))
        (folder / f"{name}_{split.upper()}.tsv").write_text("\n".join(lines) + "\n")
    return f"ucr:{folder}"


def small_copy(ref: str, root: Path, n: int = 8) -> str:
    """The first ``n`` train and test series of ``ref`` as a folder: the untimed flow warm-up."""
    from embedforge.registry.datasets import open_dataset

    ds = open_dataset(ref)
    name = "Warm"
    (root / name).mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        picked = [it for it in ds.items() if it.split == split][:n]
        rows = [
            "\t".join([str(it.labels["label"]), *(f"{float(a):.6g}" for a in ds.load(it).values[0])]) for it in picked
        ]
        (root / name / f"{name}_{split.upper()}.tsv").write_text("\n".join(rows) + "\n")
    return f"ucr:{root / name}"


# ------------------------------------------------------------------------------- timing
def forget_models() -> None:
    """Empty the flow's per-process model cache, so the flow builds its model inside the timing too."""
    import embedforge.registry.cache as embed

    for fn in (getattr(embed, "_cached_encoder", None), embed.cached_encoder):
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


def bare_loop(ref: str, encoder: str, weights: str | None, batch_size: int) -> tuple[float, float, int]:
    """Same encoder, same items, same batch size: items -> load -> preprocess -> encode, model built once."""
    from embedforge.registry.datasets import open_dataset
    from embedforge.registry.encoders import build_encoder

    t0, c0 = time.perf_counter(), cpu_seconds()
    ds = open_dataset(ref)
    items = ds.items()
    model = build_encoder(encoder, weights=weights)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        model.encode([model.preprocess(ds.load(it), it.id) for it in chunk])
    return time.perf_counter() - t0, cpu_seconds() - c0, len(items)


def flow_run(
    ref: str, encoder: str, weights: str | None, db: str, batch_size: int, shard_size: int
) -> tuple[float, float, dict]:
    """The embed flow into a fresh LanceDB dir; the model is built inside the timing, as in the bare loop."""
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    forget_models()
    params = EmbedParams(
        dataset=ref,
        encoder=encoder,
        db=db,
        weights=weights,
        dataset_name="bench",
        batch_size=batch_size,
        shard_size=shard_size,
    )
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = run_embed(params)
    return time.perf_counter() - t0, cpu_seconds() - c0, summary


def tasks_run(ref: str, encoder: str, weights: str | None, db: str, batch_size: int, shard_size: int, work: str):
    """The flow's tasks called as plain functions (plan, then every shard): the store's share without Prefect's."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    forget_models()
    t0, c0 = time.perf_counter(), cpu_seconds()
    plan = plan_embedding(
        dataset=ref,
        encoder=encoder,
        db_uri=db,
        work_dir=work,
        weights=weights,
        shard_size=shard_size,
        dataset_name="bench",
    )
    for path in plan.shards:
        embed_shard(shard_path=path, encoder=encoder, db_uri=db, weights=weights, batch_size=batch_size)
    return time.perf_counter() - t0, cpu_seconds() - c0


def warm_up(ref: str, encoder: str, weights: str | None, tmp: Path, batch_size: int) -> None:
    """Prefect's ephemeral API, imports, numba JIT and torch first calls: all outside the timings."""
    from prefect import flow

    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    flow(lambda: None, name="warm-up")()
    small = small_copy(ref, tmp / "warm")
    bare_loop(small, encoder, weights or small, batch_size)
    run_embed(
        EmbedParams(
            dataset=small,
            encoder=encoder,
            db=str(tmp / "warm-db"),
            weights=weights or small,
            dataset_name="warm",
            batch_size=batch_size,
            shard_size=8,
        )
    )


def bench_embed(args, encoder: str, tmp: Path) -> None:
    """Part 1: flow/bare throughput ratio with the same encoder on the same items."""
    forecaster = encoder.removesuffix("-diff") in FORECASTERS
    repeat = args.repeat or (1 if forecaster else 8)  # MiniRocket is fast: more items, or fixed costs dominate
    ref = enlarged_dataset(args.dataset, repeat, tmp / "data")
    weights = args.weights
    if forecaster and not weights:
        weights = forecaster_weights(encoder, tmp / "weights", args.layers, args.d_model)
    fit_on = weights or ref  # MiniRocket's weights are the dataset whose train split fits it
    warm_up(ref, encoder, weights, tmp, args.batch_size)
    bare, flows, tasks = [], [], []
    for trial in range(args.trials):
        bare.append(bare_loop(ref, encoder, fit_on, args.batch_size))
        flows.append(flow_run(ref, encoder, fit_on, str(tmp / f"db-{trial}"), args.batch_size, args.shard_size))
        if args.tasks:
            db, work = str(tmp / f"tasks-db-{trial}"), str(tmp / f"tasks-work-{trial}")
            tasks.append(tasks_run(ref, encoder, fit_on, db, args.batch_size, args.shard_size, work))
    n, b, f = bare[0][2], min(bare), min(flows)
    print(
        f"\n== embed: {encoder} on {args.dataset} x{repeat} (n={n}, batch={args.batch_size}, "
        f"shard={args.shard_size}, threads={args.threads}, best of {args.trials}) =="
    )
    for i, ((bw, bc, _), (fw, fc, _)) in enumerate(zip(bare, flows)):
        print(f"trial {i}: bare {bw:7.2f} s wall {bc:7.2f} s cpu | flow {fw:7.2f} s wall {fc:7.2f} s cpu")
    print(f"bare loop : {b[0]:7.2f} s  ({n / b[0]:7.1f} items/s)")
    print(f"embed flow: {f[0]:7.2f} s  ({n / f[0]:7.1f} items/s)  embedded={f[2]['embedded']} failed={f[2]['failed']}")
    print(f"RATIO flow/bare throughput (wall, {encoder}) = {b[0] / f[0]:.3f}  (goal >= 0.95)")
    cpu_ratio = min(c for _, c, _ in bare) / min(c for _, c, _ in flows)
    print(f"RATIO flow/bare throughput (cpu,  {encoder}) = {cpu_ratio:.3f}")
    if tasks:  # the same tasks without Prefect: what is left of the gap is the store's and the plan's
        tw, tc = min(w for w, _ in tasks), min(c for _, c in tasks)
        print(f"tasks without Prefect: {tw:7.2f} s wall {tc:7.2f} s cpu (best of {len(tasks)})")
        bare_cpu = min(c for _, c, _ in bare)
        print(f"RATIO tasks/bare throughput (wall, cpu; {encoder}) = {b[0] / tw:.3f}, {bare_cpu / tc:.3f}")


# ------------------------------------------------------------------------------- leaderboard
def bench_leaderboard(args, tmp: Path) -> None:
    """Part 2: the whole leaderboard cold, then again warm (embeddings and scores cached)."""
    from prefect import flow

    from embedforge.flows.benchmark import run_benchmark
    from embedforge.flows.params import BenchmarkParams
    from embedforge.tasks.tracking import use_tracking

    flow(lambda: None, name="warm-up")()
    encoders = args.lb_encoders.split(",")
    weights = {
        e: forecaster_weights(e, tmp / "lb-weights", args.lb_layers, args.lb_d_model)
        for e in encoders
        if e in FORECASTERS
    }
    augment = ["stats"] + (["diff"] if weights else [])
    tracking = f"sqlite:///{tmp}/mlflow.db"
    use_tracking(tracking, "leaderboard", artifact_root=str(tmp / "artifacts"))  # keep ./mlruns clean
    params = BenchmarkParams(
        encoders=encoders,
        datasets=args.lb_datasets.split(","),
        augment=augment,
        heads=args.heads.split(","),
        weights=weights,
        db=str(tmp / "lb-db"),
        tracking_uri=tracking,
    )
    forget_models()
    t0 = time.perf_counter()
    cold = run_benchmark(params)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = run_benchmark(params)
    warm_s = time.perf_counter() - t0
    print(f"\n== leaderboard: {encoders} x {params.datasets} x augment {augment} x {params.heads} ==")
    print(warm["markdown"])
    print(
        f"cells: {len(cold['rows'])} cold (cached {sum(r['cached'] for r in cold['rows'])}), "
        f"{len(warm['rows'])} warm (cached {sum(r['cached'] for r in warm['rows'])})"
    )
    same = [r["accuracy"] for r in cold["rows"]] == [r["accuracy"] for r in warm["rows"]]
    print(f"cold {cold_s:7.2f} s   warm {warm_s:7.2f} s   same accuracies: {same}")
    print(f"RATIO warm/cold leaderboard time = {warm_s / cold_s:.3f}  (goal <= 0.03)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--encoder",
        default="timeseries/minirocket,timeseries/chronos-bolt-small",
        help="one or more (comma-separated) registered encoders, each measured on its own",
    )
    parser.add_argument("--dataset", default="ACSF1", help="an offline aeon set (ACSF1, OSULeaf, GunPoint, ...)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="jittered copies of every series (1: as shipped; default 8 for MiniRocket, 1 for forecasters)",
    )
    parser.add_argument("--weights", default=None, help="forecaster weights dir (default: random, see --layers)")
    parser.add_argument("--layers", type=int, default=6, help="layers/blocks of random forecaster weights")
    parser.add_argument("--d-model", type=int, default=512, help="width of random forecaster weights")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--trials", type=int, default=2, help="interleaved bare/flow runs; the best counts")
    parser.add_argument(
        "--tasks", action="store_true", help="also time the flow's tasks as plain calls (no Prefect), interleaved"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (1: steadier on a shared machine)")
    parser.add_argument("--lb-encoders", default="timeseries/minirocket,timeseries/chronos-bolt-small")
    parser.add_argument("--lb-datasets", default="GunPoint,ItalyPowerDemand,ArrowHead,OSULeaf")
    parser.add_argument("--lb-layers", type=int, default=6)
    parser.add_argument("--lb-d-model", type=int, default=512)
    parser.add_argument("--heads", default="classify/ridge,classify/logreg")
    parser.add_argument("--skip", choices=["embed", "leaderboard"], action="append", default=[])
    args = parser.parse_args()

    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    os.environ["EMBEDFORGE_TORCH_THREADS"] = str(args.threads)  # build_encoder caps torch to it: bare and flow alike
    import torch

    torch.set_num_threads(args.threads)
    import embedforge.modalities.timeseries  # noqa: F401  (registers the encoders and the ucr adapter)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EMBEDFORGE_HOME", tmp)
        if "embed" not in args.skip:
            for i, encoder in enumerate(args.encoder.split(",")):
                bench_embed(args, encoder, Path(tmp) / f"embed-{i}")
        if "leaderboard" not in args.skip:
            bench_leaderboard(args, Path(tmp) / "leaderboard")


if __name__ == "__main__":
    main()
