"""Every `runner/….py` and `tests/….py` path that conf/, docs/ and the README name exists: a
moved module leaves no reader pointing at the old place."""

from __future__ import annotations

import re

from tests.helpers.paths import ROOT


def test_every_named_module_path_exists():
    named = set()
    for path in [*ROOT.glob("conf/**/*.yaml"), *ROOT.glob("docs/**/*.md"), ROOT / "README.md"]:
        named |= set(re.findall(r"\b(?:runner|tests)/[\w/]+\.py\b", path.read_text(encoding="utf-8")))
    assert len(named) > 10
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []
