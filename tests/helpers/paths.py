"""Where the tests' files are, and the offline environment every test runs in."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"  # vendored real files, provenance in each SOURCES.md
HUB = ROOT / "runner" / "assets" / "hub"  # the real tokenizers bundled with the runner
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
