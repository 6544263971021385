"""The layer contracts of ARCHITECTURE.md hold: ``lint-imports`` (import-linter, also run by ``make lint``) over the
installed layout, function-local imports included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("flows", "tasks", "modalities", "registry", "infra")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """Run import-linter with the contracts of pyproject.toml over ``tree`` (which holds ``embedforge/...``)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "HOME": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def link_tree(tmp_path: Path, copied: str | None = None) -> Path:
    """``embedforge/<folder>`` -> the checkout's folder (as ``make lint`` lays it out); ``copied`` is a copy instead."""
    pkg = tmp_path / "tree" / "embedforge"
    pkg.mkdir(parents=True)
    for name in FOLDERS:
        if name == copied:
            shutil.copytree(ROOT / name, pkg / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (pkg / name).symlink_to(ROOT / name, target_is_directory=True)
    return pkg.parent


def test_the_layer_contracts_are_kept(tmp_path):
    done = lint_imports(link_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_modality_importing_tasks_breaks_them(tmp_path):
    """The contracts see the package (not an empty graph): a function-local upward import is reported."""
    tree = link_tree(tmp_path, copied="modalities")
    heads = tree / "embedforge" / "modalities" / "heads.py"
    upward = "\n\ndef _upward():\n    from embedforge.tasks.features import load_features\n"
    heads.write_text(heads.read_text() + upward)
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "embedforge.modalities is not allowed to import embedforge.tasks" in done.stdout
    assert "embedforge.modalities.heads -> embedforge.tasks.features" in done.stdout
