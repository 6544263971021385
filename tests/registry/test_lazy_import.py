"""``defer_package_init``: a package registered with its ``__init__`` deferred, or left alone."""

from __future__ import annotations

import sys


def test_an_imported_package_is_left_alone():
    import json

    from embedforge.registry.lazy_import import defer_package_init

    before = sys.modules["json"]
    defer_package_init("json")
    assert sys.modules["json"] is before and json.dumps([1]) == "[1]"


def test_a_missing_package_is_ignored():
    from embedforge.registry.lazy_import import defer_package_init

    defer_package_init("no_such_package_embedforge")
    assert "no_such_package_embedforge" not in sys.modules
