"""Peak memory on long inputs: a 10-minute clip against a 10-second clip, each read, preprocessed and encoded
in a fresh process (peak RSS from ru_maxrss). Goal: long/short <= 1.5.

    .venv/bin/python bench/bench_memory.py [--encoder speech/ge2e] [--long 600] [--short 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHILD = """
import resource, sys, time
import torch
torch.set_num_threads(1)
from embedforge.modalities.speech.audio import read_audio
from embedforge.registry.encoders import build_encoder
model = build_encoder(sys.argv[1])
t0 = time.perf_counter()
vector = model.encode([model.preprocess(read_audio(sys.argv[2]), sys.argv[2])])
assert vector.shape == (1, model.spec.dim)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, round(time.perf_counter() - t0, 1))
"""


def make_clip(path: Path, seconds: int, seed: int = 0) -> None:
    """A synthetic voice: 10 s synthesised once, repeated with varied loudness to the length asked."""
    import numpy as np
    import soundfile as sf

    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(seed)
    base = synthesize(make_voice("id1", "m", 180.0, rng), 10.0, rng)
    reps = max(1, seconds // 10)
    sf.write(path, np.concatenate([base * (0.8 + 0.4 * rng.random()) for _ in range(reps)]), 16000, subtype="PCM_16")


def peak_mb(encoder: str, clip: Path) -> tuple[int, float]:
    """Peak RSS (MB) and encode seconds of one fresh process embedding ``clip``."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, encoder, str(clip)], capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed on {clip}:\n{done.stderr[-3000:]}")
    mb, seconds = done.stdout.split()[-2:]
    return int(mb), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="speech/ge2e")
    parser.add_argument("--long", type=int, default=600, help="seconds of the long clip")
    parser.add_argument("--short", type=int, default=10, help="seconds of the short clip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        short, long = Path(tmp) / "short.wav", Path(tmp) / "long.wav"
        make_clip(short, args.short)
        make_clip(long, args.long)
        (s_mb, s_s), (l_mb, l_s) = peak_mb(args.encoder, short), peak_mb(args.encoder, long)
    print(f"encoder {args.encoder}")
    print(f"{args.short:>5} s clip: peak RSS {s_mb} MB (encode {s_s} s)")
    print(f"{args.long:>5} s clip: peak RSS {l_mb} MB (encode {l_s} s)")
    print(f"peak RSS long/short: {l_mb / s_mb:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
