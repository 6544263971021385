"""The quiet process environment, apart from the settings model: the CLI sets it before parsing any command
(``--help`` included) without importing pydantic-settings."""

from __future__ import annotations

import os


def quiet_env() -> dict[str, str]:
    """Switch off every outbound call Prefect, MLflow and Hugging Face would make."""
    return {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }


def apply_quiet_env() -> None:
    """Set the quiet defaults without overriding what the user exported."""
    for key, value in quiet_env().items():
        os.environ.setdefault(key, value)
