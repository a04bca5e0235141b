"""Every `runner/….py` path that conf/, docs/ and the README name exists: a moved module leaves
no reader pointing at the old place."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_named_module_path_exists():
    named = set()
    for path in [*ROOT.glob("conf/**/*.yaml"), *ROOT.glob("docs/**/*.md"), ROOT / "README.md"]:
        named |= set(re.findall(r"\brunner/[\w/]+\.py\b", path.read_text(encoding="utf-8")))
    assert len(named) >= 5  # the docs name modules by path in a few places
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []
