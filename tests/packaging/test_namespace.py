"""The wheel installs one import name, ``embedforge``, and every package folder of the checkout is in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("flows", "tasks", "modalities", "registry", "infra")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Built from a copy of the checkout, so setuptools' build/ folder never lands in the repository."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in FOLDERS:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return zipfile.ZipFile(next(out.glob("embedforge-*.whl")))


def test_wheel_has_one_top_level_name(wheel):
    tops = {n.split("/", 1)[0] for n in wheel.namelist() if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"embedforge"}
    assert metadata.distribution("embedforge").read_text("top_level.txt").split() == ["embedforge"]


def installed_path(rel: str) -> str:
    """Where a checkout file lands in the wheel: the longest ``package-dir`` folder it is under decides
    (``tasks/testing/x.py`` -> ``embedforge/testing/x.py``, ``tasks/x.py`` -> ``embedforge/tasks/x.py``)."""
    import tomllib

    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    package, folder = max(((p, f) for p, f in dirs.items() if rel.startswith(f + "/")), key=lambda pf: len(pf[1]))
    return package.replace(".", "/") + rel[len(folder) :]


def test_every_package_folder_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT).as_posix()
            assert installed_path(rel) in names, f"{rel} is not packaged: list its package in pyproject.toml"
    assert installed_path("tasks/testing/__init__.py") == "embedforge/testing/__init__.py"
    assert not [n for n in names if n.startswith("embedforge/tasks/testing/")]  # one name for the suite


def test_generic_names_are_not_importable_outside_the_checkout(tmp_path):
    code = (
        "import importlib.util as u, embedforge.flows, embedforge.tasks.store;"
        "print([m for m in ('flows', 'tasks', 'modalities', 'registry', 'infra') if u.find_spec(m)])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_console_script_points_into_the_namespace():
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "embedforge"]
    assert script.value.startswith("embedforge.flows.cli")
