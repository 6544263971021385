"""Offline, isolated test session: quiet services, temporary homes, fakes registered as a plugin."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["EMBEDFORGE_PLUGINS"] = "tests.fakes"
os.environ.setdefault("MPLBACKEND", "Agg")
# A CLI run without PREFECT_API_URL starts the home's background Prefect server: gone a minute after its last use.
os.environ.setdefault("EMBEDFORGE_SERVER_IDLE_S", "60")

import numpy as np
import pytest

from embedforge.registry.settings import apply_quiet_env

apply_quiet_env()


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory):
    """One data directory and one Prefect test harness for the whole session."""
    home = tmp_path_factory.mktemp("embedforge-home")
    os.environ["EMBEDFORGE_HOME"] = str(home)
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    yield home
    _stop_background_servers(tmp_path_factory.getbasetemp())


def _stop_background_servers(root):
    """Background Prefect servers the tests' CLI runs started in their homes: stopped with the session."""
    import json

    from embedforge.infra.stack import stop_entry

    for state in root.glob("**/server/server.json"):
        try:
            stop_entry(json.loads(state.read_text()))
        except (OSError, ValueError):
            continue


@pytest.fixture(scope="session")
def prefect_harness(_session_home):
    """A session-scoped ephemeral Prefect API (per-test servers print errors at exit)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def arrays_dir(tmp_path):
    """A folder of 12 small series in two classes, with labels, splits and groups."""
    rng = np.random.default_rng(0)
    root = tmp_path / "arrays"
    root.mkdir()
    lines = ["id,label,split,group"]
    for i in range(12):
        label = i % 2
        x = rng.standard_normal(200).astype(np.float32) * (1 + 2 * label) + label
        np.save(root / f"s{i:02d}.npy", x)
        lines.append(f"s{i:02d}.npy,{label},{'train' if i < 8 else 'test'},g{i // 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root
