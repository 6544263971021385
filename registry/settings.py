"""One validated settings object: every path, URI and port comes from here or EMBEDFORGE_* variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedforge.registry.environment import apply_quiet_env, quiet_env

__all__ = ["Settings", "apply_quiet_env", "quiet_env"]


class Settings(BaseSettings):
    """Where embedforge keeps its data and how it reaches its services."""

    model_config = SettingsConfigDict(env_prefix="EMBEDFORGE_", extra="forbid", validate_default=True)

    home: Path = Field(default_factory=lambda: Path("~/.embedforge").expanduser(), description="data directory")
    db_uri: str | None = Field(None, description="LanceDB URI (directory or s3://, gs://, az://); default HOME/lancedb")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default a SQLite store under HOME")
    artifact_uri: str | None = Field(None, description="MLflow artifact root (directory or object-storage URI)")
    prefect_home: Path | None = Field(None, description="Prefect home; default HOME/prefect")
    prefect_db_url: str | None = Field(
        None, description="Prefect server database URL (postgresql+asyncpg://...); default SQLite"
    )
    host: str = Field("127.0.0.1", description="interface the local stack binds to")
    prefect_port: int = Field(4200, ge=1, le=65535)
    mlflow_port: int = Field(5000, ge=1, le=65535)
    work_pool: str = Field("embedforge-process", description="Prefect work pool for deployments")
    prefect_server: Literal["background", "temporary"] = Field(
        "background",
        description="where commands without a Prefect API run their flows: one background server per home, shared "
        "by commands and stopped when idle, or Prefect's temporary server per command (no background process)",
    )
    server_idle_s: float = Field(900.0, gt=0, description="idle seconds before the background server stops")
    plugins: str = Field("", description="comma-separated extra modules that register encoders/datasets/modalities")
    csfm_weights: str | None = Field(None, description="local CSFM checkpoint (.pth or a folder with one)")
    video_max_bytes: int = Field(50 * 1024 * 1024, ge=1, description="largest video a served model or query takes")
    video_max_seconds: float = Field(120.0, gt=0, description="longest video a served model takes")
    max_raw_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="largest decoded raw input (audio, series, ...) a served model accepts"
    )
    max_request_bytes: int = Field(
        32 * 1024 * 1024, ge=1, description="largest sum of raw inputs over the rows of one served request"
    )
    max_media_seconds: float = Field(
        600.0, gt=0, description="longest decoded media (audio, video) a served model takes"
    )
    max_tile_pixels: int = Field(
        1024 * 1024,
        ge=64,
        description="largest image (width x height, read from its header before decoding) a tile reader takes; CNNs "
        "run at the tile's own size, so this also bounds the encoder's memory (Lite0: +0.4 GB at 1024 x 1024)",
    )
    max_audio_channels: int = Field(8, ge=1, description="most channels an audio file or request may have")
    max_audio_rate: int = Field(192_000, ge=1, description="highest sample rate (Hz) an audio file or request may have")
    max_video_pixels: int = Field(
        4096 * 2160, ge=64, description="largest video frame (width x height, from the stream header) decoded"
    )
    video_decode_pixels: int = Field(
        1920 * 1080, ge=64, description="frames larger than this are downscaled (aspect kept) while they are decoded"
    )
    max_request_memory: int = Field(
        1024 * 1024 * 1024, ge=1, description="decoded input one served request may hold, summed over its rows"
    )
    serve_allowed_roots: str = Field(
        "",
        description="directories (os.pathsep-separated) served models may read file:// input from; empty: none",
    )
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="torch threads in encoders and models; default the usable cores divided by the shards run at "
        "once in the process (never more threads than cores)",
    )
    ann_min_rows: int = Field(50_000, ge=1, description="rows past which a vector table gets an ANN index")

    @property
    def serve_roots(self) -> list[str]:
        """The directories served models may read ``file://`` input from (none by default)."""
        return [r for r in self.serve_allowed_roots.split(os.pathsep) if r.strip()]

    @property
    def lancedb_uri(self) -> str:
        return self.db_uri or str(self.home / "lancedb")

    @property
    def mlflow_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str:
        return self.artifact_uri or str(self.home / "mlflow" / "artifacts")

    @property
    def prefect_dir(self) -> Path:
        return self.prefect_home or self.home / "prefect"
