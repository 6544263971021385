"""Pathology tiles: the slide read+embed flow against a bare loop over the same tiles with the same encoder.

Synthetic pyramidal slides (tiled TIFF, 3 levels, read through OpenSlide); ratios are measured in this run:
    .venv/bin/python bench/bench_pathology.py --slides 4 --tile 128
RATIO flow/bare throughput (goal >= 0.95): the flow scans slides (tissue mask), plans one shard per slide,
reads tiles in a prefetch thread while encoding, and commits each slide to LanceDB; the bare loop reads and
encodes the known tile list serially. Also printed: the share of the bare loop's time spent reading tiles.
On a GPU: ``--device cuda --encoder pathology/resnet50-trunc`` or ``pathology/uni`` (random weights in each
model's on-disk format; speed does not depend on the values) gives tiles/s end to end and the read share.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DEVICE = ["cpu"]


def make_slides(root: Path, n: int, tile: int, cols: int, rows: int) -> Path:
    """``n`` slides, each a cols x rows block of tissue tiles on glass (0.5 um/px, three levels)."""
    from tests.modalities.pathology.synth import write_slide

    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_slide(root / f"s{i:02d}.tiff", positive=i % 2 == 1, seed=i, size=((cols + 2) * tile, (rows + 2) * tile),
                    tissue=(tile, tile, cols * tile, rows * tile), tile=tile)  # fmt: skip
    return root


def random_weights(encoder: str, folder: Path) -> str | None:
    """Local directories with random weights for the hub-only encoders (their real on-disk formats)."""
    import timm
    import torch

    if encoder.endswith("resnet50-trunc"):
        from safetensors.torch import save_file

        state = timm.create_model("resnet50", pretrained=False).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
        return str(folder)
    if encoder.endswith("uni"):
        model = timm.create_model("vit_large_patch16_224", init_values=1e-5, num_classes=0, dynamic_img_size=True)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        return str(folder)
    return None


def in_worker_thread(fn, *args):
    """Run in a worker thread, as the flow's task runner runs shards (torch is slower from the main thread here)."""
    import threading

    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("value", fn(*args)))
    worker.start()
    worker.join()
    return out["value"]


def cpu_seconds(fn, *args):
    """(result, CPU seconds of this process while ``fn`` ran): steadier than wall time on a shared machine."""
    c0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - c0


def tile_list(root: Path, options: dict) -> list:
    from embedforge.registry.datasets import open_dataset

    ds = open_dataset(f"slides:{root}", **options)
    return [(it.uri.rpartition("#")[0], it.labels) for it in ds.items()]


def bare_loop(tiles: list, encoder: str, weights: str | None, batch: int) -> tuple[float, float]:
    """OpenSlide read -> preprocess -> forward over the known tiles; returns (seconds, seconds reading)."""
    from embedforge.modalities.pathology.slides import Geometry, SlideCache, Tile, read_tile
    from embedforge.registry.encoders import build_encoder

    model, slides = build_encoder(encoder, weights=weights, device=DEVICE[0]), SlideCache()
    keys = ("size", "extent", "level", "read", "mpp")
    t0, reading = time.perf_counter(), 0.0
    for start in range(0, len(tiles), batch):
        inputs = []
        for path, lab in tiles[start : start + batch]:
            r0 = time.perf_counter()
            image = read_tile(slides.get(path, lab["slide"]), lab["x"], lab["y"], Geometry(**{k: lab[k] for k in keys}))
            reading += time.perf_counter() - r0
            inputs.append(model.preprocess(Tile(image=image), lab["slide"]))
        model.encode(inputs)
    return time.perf_counter() - t0, reading


def flow_run(root: Path, db: str, encoder: str, weights: str | None, options: dict, batch: int) -> tuple[float, dict]:
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    params = EmbedParams(dataset=f"slides:{root}", encoder=encoder, db=db, weights=weights, dataset_name="bench",
                         options={k: str(v) for k, v in options.items()}, batch_size=batch, device=DEVICE[0],
                         progress_artifact=False)  # fmt: skip
    t0 = time.perf_counter()
    summary = run_embed(params)
    return time.perf_counter() - t0, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slides", type=int, default=4)
    parser.add_argument("--tile", type=int, default=128, help="tile size in px at --mpp")
    parser.add_argument("--grid", default="16x12", help="tissue tiles per slide, columns x rows")
    parser.add_argument("--mpp", type=float, default=0.5)
    parser.add_argument("--encoder", default="pathology/efficientnet-lite0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best of each is kept")
    parser.add_argument("--prefetch", type=int, default=64, help="tiles read ahead of the encoder in the flow")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: no OpenMP spin on a shared CPU)")
    args = parser.parse_args()
    DEVICE[0] = args.device
    os.environ["EMBEDFORGE_TORCH_THREADS"] = str(args.threads)  # read by build_encoder in both timings

    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    from prefect import flow

    from embedforge.tasks.store import VectorStore

    options = {"tile_size": args.tile, "mpp": args.mpp}
    flow_options = {**options, "prefetch": args.prefetch}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EMBEDFORGE_HOME", tmp)
        cols, rows = (int(v) for v in args.grid.split("x"))
        root = make_slides(Path(tmp) / "slides", args.slides, args.tile, cols, rows)
        weights = random_weights(args.encoder, Path(tmp))
        tiles = tile_list(root, options)
        flow(lambda: None, name="warm-up")()  # the ephemeral Prefect API starts outside the timings
        VectorStore(str(Path(tmp) / "scratch")).tables()
        in_worker_thread(bare_loop, tiles[: args.batch_size], args.encoder, weights, args.batch_size)  # first calls
        bare, cold, reads, cpu_bare, cpu_flow = [], [], [], [], []
        for rep in range(args.repeats):
            (seconds, reading), cpu = cpu_seconds(in_worker_thread, bare_loop, tiles, args.encoder, weights,
                                                  args.batch_size)  # fmt: skip
            bare.append(seconds)
            cpu_bare.append(cpu)
            reads.append(reading / seconds)
            (seconds, summary), cpu = cpu_seconds(flow_run, root, str(Path(tmp) / f"db{rep}"), args.encoder, weights,
                                                  flow_options, args.batch_size)  # fmt: skip
            cold.append(seconds)
            cpu_flow.append(cpu)
    bare_s, cold_s, n = min(bare), min(cold), len(tiles)
    print(f"\nslides={args.slides} tiles={n} ({args.tile}px @ {args.mpp} um/px) encoder={args.encoder} "
          f"device={args.device} batch={args.batch_size} prefetch={args.prefetch} threads={args.threads}")  # fmt: skip
    print(f"bare loop (read+embed) : {bare_s:7.2f} s  ({n / bare_s:7.1f} tiles/s)  read share {min(reads):.3f}")
    print(f"embed flow (new table) : {cold_s:7.2f} s  ({n / cold_s:7.1f} tiles/s)  embedded={summary['embedded']}")
    print(f"RATIO flow/bare throughput = {bare_s / cold_s:.3f}  (goal >= 0.95)")
    print(f"RATIO flow/bare CPU-time throughput = {min(cpu_bare) / min(cpu_flow):.3f}  (this process's CPU seconds)")


if __name__ == "__main__":
    main()
