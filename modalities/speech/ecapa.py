"""``speech/ecapa-voxceleb``: SpeechBrain's ECAPA-TDNN speaker encoder (192-d, 16 kHz).

Loads through SpeechBrain's own ``EncoderClassifier.from_hparams`` from the hub id
``speechbrain/spkrec-ecapa-voxceleb`` (needs the Hugging Face cache offline) or from a local
directory in the same layout (hyperparams.yaml + embedding_model.ckpt ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from embedforge.modalities.base import Audio, Encoder, EncoderSpec, ItemError
from embedforge.modalities.speech.audio import LONG_INPUT, check_audio, long_windows, pool_windows
from embedforge.registry.encoders import register_encoder

HUB_ID = "speechbrain/spkrec-ecapa-voxceleb"
RATE = 16000
EXACT_LIMIT_S = 300  # embedded whole up to here (SpeechBrain's vector); beyond, 10 s windows bound the memory
MIN_SAMPLES = RATE // 10  # ECAPA's convolutions need a few frames; refuse < 0.1 s
MAX_STACK = 32  # equal-length utterances per forward pass
MAX_STACK_SAMPLES = RATE * 80  # ... and at most 80 s of audio in one pass

SPEC = EncoderSpec(
    name="speech/ecapa-voxceleb",
    dim=192,
    input={
        "sample_rate": RATE,
        "channels": 1,
        "features": "fbank80",
        "norm": "sentence-mean",
        "resample": "SpeechBrain AudioNormalizer (torchaudio sinc Resample, then channel mean)",
        "long_input": {**LONG_INPUT, "whole_up_to_s": EXACT_LIMIT_S},
    },
    weights=HUB_ID,
    description="ECAPA-TDNN speaker embeddings (SpeechBrain, VoxCeleb 1+2)",
    license="Apache-2.0",
    reference=f"speechbrain 1.1.2 EncoderClassifier.encode_batch(load_audio(path)) (inputs up to {EXACT_LIMIT_S} s)",
    # v2: resampled and mixed by SpeechBrain's own AudioNormalizer, as load_audio does (was scipy resample_poly
    # after a channel mean): vectors of non-16 kHz inputs changed. v3: utterances up to EXACT_LIMIT_S are
    # embedded whole, as SpeechBrain does (were 10 s windows averaged from 10 s on): vectors of 10-300 s changed.
    recipe="v3",
)


def cache_root() -> Path:
    """Where SpeechBrain collects its links: EMBEDFORGE_HOME (default ~/.embedforge)/models/speechbrain."""
    from embedforge.registry.settings import Settings

    return Settings().home / "models" / "speechbrain"


def savedir_for(source: str) -> Path:
    """One collection folder per source, so two local model dirs never share stale links."""
    if Path(source).is_dir():
        tag = "local-" + hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:12]
    else:
        tag = source.replace("/", "--")
    return cache_root() / tag


def probe(weights: str | None = None) -> str | None:
    """None when a local dir is given or the hub files are cached; otherwise why not."""
    if weights and Path(weights).is_dir():
        return None if (Path(weights) / "hyperparams.yaml").is_file() else f"{weights} has no hyperparams.yaml"
    source = weights or HUB_ID
    if (savedir_for(source) / "embedding_model.ckpt").exists():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        files = ("hyperparams.yaml", "embedding_model.ckpt")
        if all(isinstance(try_to_load_from_cache(source, f), str) for f in files):
            return None
    except Exception:
        pass
    return f"{source}: hub weights not available offline; pass --weights DIR (a local spkrec-ecapa-voxceleb copy)"


class EcapaEncoder(Encoder):
    """Embeds each distinct length unpadded: equal-length utterances are stacked with wav_lens=1."""

    spec = SPEC

    def __init__(self, weights: str | None = None, device: str = "cpu") -> None:
        import torch
        from speechbrain.inference.speaker import EncoderClassifier

        source = weights or HUB_ID
        local = Path(source).is_dir()
        overrides = _local_overrides(Path(source)) if local else {}
        self.classifier = EncoderClassifier.from_hparams(
            source=str(Path(source).resolve()) if local else source,
            savedir=str(savedir_for(source)),
            run_opts={"device": device},
            overrides=overrides,
        )
        self.classifier.eval()
        self.model = self.classifier.mods.embedding_model
        dim = int(self.model.fc.conv.weight.shape[0])
        if dim != SPEC.dim:  # a custom directory may declare another width: record the truth
            self.spec = dataclasses.replace(SPEC, dim=dim)
        self.weights_source = str(Path(source).resolve()) if local else source
        self.device = device
        self._torch = torch

    def preprocess(self, sample: Audio, item_id: str) -> np.ndarray:
        """16 kHz mono float32 as ``EncoderClassifier.load_audio`` makes it: the classifier's own
        ``audio_normalizer`` (torchaudio's sinc resampler per channel, then the channel mean). SpeechBrain
        normalises features per sentence itself."""
        check_audio(sample, item_id)
        torch = self._torch
        channels = np.atleast_2d(np.asarray(sample.waveform, dtype=np.float32))  # channels x samples
        with torch.inference_mode():
            mixed = self.classifier.audio_normalizer(torch.from_numpy(channels).T, int(sample.sample_rate))
        wave = np.ascontiguousarray(mixed.cpu().numpy(), dtype=np.float32)
        if wave.size < MIN_SAMPLES:
            raise ItemError(f"{item_id}: {wave.size / RATE:.3f} s of audio, ECAPA needs at least 0.1 s")
        return wave

    def encode(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Bucket inputs by exact length so none is ever padded. An utterance up to EXACT_LIMIT_S is embedded whole
        (the reference's vector); a longer one in overlapping 10 s windows whose vectors are averaged (memory
        bounded whatever its length: the one departure from the reference, named in the spec)."""
        spans = [(i, a, b) for i, wave in enumerate(inputs) for a, b in _spans(len(wave))]
        out = np.zeros((len(spans), self.spec.dim), np.float32)
        buckets: dict[int, list[int]] = {}
        for k, (_, a, b) in enumerate(spans):
            buckets.setdefault(b - a, []).append(k)
        torch = self._torch
        with torch.inference_mode():
            for length, same_length in buckets.items():
                stack = max(1, min(MAX_STACK, MAX_STACK_SAMPLES // length))
                for start in range(0, len(same_length), stack):
                    idx = same_length[start : start + stack]
                    out[idx] = self._embed(np.stack([inputs[i][a:b] for i, a, b in (spans[k] for k in idx)]))
        if len(spans) == len(inputs):
            return out
        return pool_windows(out, np.asarray([i for i, _, _ in spans]), len(inputs), normalise=False)

    def _embed(self, waves: np.ndarray) -> np.ndarray:
        """SpeechBrain's own encode_batch on unpadded, equal-length waveforms."""
        torch = self._torch
        batch = torch.from_numpy(waves.astype(np.float32))
        emb = self.classifier.encode_batch(batch, torch.ones(len(waves)))
        return emb.reshape(len(waves), -1).cpu().numpy()


def _local_overrides(source: Path) -> dict[str, str]:
    """Point ``pretrained_path`` at the directory, so a hub copy's yaml never reaches for the hub."""
    text = (source / "hyperparams.yaml").read_text(encoding="utf-8") if (source / "hyperparams.yaml").is_file() else ""
    has_key = any(line.startswith("pretrained_path:") for line in text.splitlines())
    return {"pretrained_path": str(source.resolve())} if has_key else {}


@register_encoder(SPEC, probe)
def build_ecapa(weights: str | None = None, device: str = "cpu") -> EcapaEncoder:
    """Load ECAPA from the hub id (cached) or a local SpeechBrain model directory."""
    return EcapaEncoder(weights=weights, device=device)


def _spans(n: int) -> list[tuple[int, int]]:
    """The whole input up to EXACT_LIMIT_S, else 10 s windows."""
    return [(0, n)] if n <= EXACT_LIMIT_S * RATE else long_windows(n, RATE)
