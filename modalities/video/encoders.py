"""Video encoders: an image model per sampled frame, pooled to one clip vector (CLIP4Clip ``meanP``).

``preprocess`` only probes the header (cheap, and refuses audio-only or empty files early); ``encode`` decodes
and transforms the next clips in a prefetch thread while the model embeds the current one, so memory is
bounded by the queue depth, not by the shard or the video length.

Per-frame vectors: ``pooling=frames`` makes a table whose fixed-size vector is the K L2-normalised frame
vectors in time order (K x D); temporal heads (``video/attention-pool``) train on it without decoding again.
The default ``pooling=mean`` table holds the clip vector: mean of L2-normalised frames, L2-normalised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, EncoderSpec, ItemError
from embedforge.modalities.video.decode import Video, probe, sample_frames
from embedforge.modalities.video.prefetch import prefetched

POOLINGS = ("mean", "frames")


class FrameEncoder(Encoder):
    """Shared sampling, prefetching and pooling; subclasses supply ``transform`` and ``_forward``."""

    spec: EncoderSpec
    transform: Any  # PIL image -> (3, S, S) tensor, the model's own preprocessing
    device: str  # torch device the subclass put its model on

    def _setup(self, frames: int = 8, fps: float | None = None, pooling: str = "mean", prefetch: int = 2) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "frames" and fps:
            raise ValueError("pooling=frames needs a fixed frame count: give frames=K, not fps")
        self.frames, self.fps, self.pooling, self.prefetch = int(frames), fps or None, pooling, int(prefetch)
        self.frame_dim = self.spec.dim
        self.dim = self.frame_dim * (self.frames if pooling == "frames" else 1)

    def identity(self) -> dict[str, Any]:
        """The spec's identity plus the sampling recipe (frames, fps, pooling) and the real vector size."""
        ident = super().identity()
        recipe = {"frames": self.frames, "fps": self.fps, "pooling": self.pooling}
        return {**ident, "dim": self.dim, "input": {**ident["input"], **recipe}}

    def preprocess(self, sample: Any, item_id: str) -> tuple[str, Video]:
        """Check the container now (clear failures early); decoding waits for ``encode``'s prefetch."""
        if isinstance(sample, (str, Path)):
            sample = Video(str(sample))
        if not isinstance(sample, Video):
            raise ItemError(f"{item_id}: expected a video, got {type(sample).__name__}")
        probe(sample.source, item_id)
        return item_id, sample

    def encode(self, inputs: list[tuple[str, Video]]) -> np.ndarray:
        """Decode the next clips in a bounded prefetch thread while the current one is embedded.

        A clip that fails does not stop the batch: every result is kept until the caller's item-by-item retry
        (which names the bad clip) asks for it, so nothing is decoded twice.
        """
        memo = self.__dict__.setdefault("_memo", {})
        keys = [_job_key(job) for job in inputs]
        if not all(k in memo for k in keys):
            memo.clear()
            for job, got in prefetched(inputs, self.frame_batch, self.prefetch):
                memo[_job_key(job)] = got if isinstance(got, Exception) else self.pool(self.embed_frames(got))
        out = [memo.pop(k) for k in keys]
        bad = [(job, got) for job, got in zip(inputs, out, strict=True) if isinstance(got, Exception)]
        if bad:
            memo.update(zip(keys, out, strict=True))
            (item_id, _), exc = bad[0]
            raise exc if isinstance(exc, ItemError) else ItemError(f"{item_id}: {type(exc).__name__}: {exc}")
        return np.stack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def frame_batch(self, job: tuple[str, Video]):
        """Decode K frames of one clip and apply the model's preprocessing: a (K, 3, S, S) tensor."""
        import torch
        from PIL import Image

        item_id, video = job
        frames = sample_frames(video, item_id, k=self.frames, fps=self.fps)
        return torch.stack([self.transform(Image.fromarray(img)) for img in frames.images])

    def embed_frames(self, batch) -> np.ndarray:
        """(K, 3, S, S) -> (K, D) L2-normalised frame vectors."""
        import torch

        with torch.inference_mode():
            feats = self._forward(batch.to(self.device)).float().cpu().numpy()
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)

    def pool(self, frames: np.ndarray) -> np.ndarray:
        """meanP (mean of unit frame vectors, re-normalised), or the frames themselves in time order."""
        if self.pooling == "frames":
            return frames.reshape(-1)
        mean = frames.mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)

    def _forward(self, batch):
        raise NotImplementedError


def _job_key(job: tuple[str, Video]) -> tuple:
    """A clip's identity for the retry memo: id, window and, for files, size and modification time."""
    item_id, video = job
    if isinstance(video.source, bytes):
        return item_id, video
    try:
        st = Path(video.source).stat()
    except OSError:
        return item_id, video, None
    return item_id, video, st.st_size, st.st_mtime_ns


def mean_pool(frame_vectors: np.ndarray) -> np.ndarray:
    """(n, K, D) unit frame vectors -> (n, D) meanP clip vectors, as the encoder computes them."""
    mean = frame_vectors.mean(axis=1)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
