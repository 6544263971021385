"""Every EMBEDFORGE_* variable is read through the one Settings object, never from os.environ directly."""

import re
from pathlib import Path

from embedforge.registry.settings import Settings

REPO = Path(__file__).parents[2]
READ = re.compile(r"(environ\.get|getenv)\(\s*[\"']EMBEDFORGE_|environ\[\s*[\"']EMBEDFORGE_\w+[\"']\](?!\s*=[^=])")


def test_no_direct_reads_of_embedforge_variables():
    offenders = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for folder in ("flows", "tasks", "registry", "modalities", "infra")
        for path in (REPO / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if READ.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_pattern_tells_reads_from_writes():
    assert READ.search('x = os.environ.get("EMBEDFORGE_HOME", "")')
    assert READ.search('os.environ["EMBEDFORGE_PLUGINS"].split(",")')
    assert not READ.search('os.environ["EMBEDFORGE_HOME"] = str(home)')


def test_fields_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEDFORGE_CSFM_WEIGHTS", str(tmp_path / "w.pth"))
    monkeypatch.setenv("EMBEDFORGE_VIDEO_MAX_SECONDS", "5")
    monkeypatch.setenv("EMBEDFORGE_PLUGINS", "a,b")
    s = Settings()
    assert (s.csfm_weights, s.video_max_seconds, s.plugins) == (str(tmp_path / "w.pth"), 5.0, "a,b")
