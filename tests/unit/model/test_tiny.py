"""The embedded tiny models are the same files on every machine: two fresh builds are identical
byte for byte, and the tokenizer files have the sha256 pinned here (a `tokenizers` or
transformers upgrade that changes their serialisation changes these pins, nothing else)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PINNED = {
    "bert/vocab.txt": "998e56ab229a50fa99183501a0dd5b3145a17c335a0168d24b566fadf932c89f",
    "bert/tokenizer.json": "02afbdebcb0dccf342629d5d28a28901c290408af7028c85e417fc3596c68670",
    "bert/tokenizer_config.json": "ad2b2be6fa4d565bbb9a6890a4abb2fd9c33845f635f12b0cd8d2c3918f86b53",
    "roberta/tokenizer.json": "2e7fa869734582c94343ab233e9a6bb8ee1a045c16db7ba160cdd01046047223",
    "roberta/tokenizer_config.json": "580a55a92b8aff0732f6d19446dafe8bb643afec50703743bf52232c6c518da7",
}


def hashes(folder: Path) -> dict[str, str]:
    (root,) = folder.iterdir()
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_two_fresh_builds_are_identical_and_pinned(tmp_path, monkeypatch):
    """One build in a fresh process (nothing cached, nothing seeded before it), one in this
    test process after whatever ran before it: the same bytes."""
    from runner.model import tiny

    code = "from runner.model import tiny\nfor name in tiny.NAMES: tiny.ensure(name)\nimport gc; gc.freeze()"
    env = {**os.environ, "RUNNER_ASSETS_DIR": str(tmp_path / "a")}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    monkeypatch.setenv("RUNNER_ASSETS_DIR", str(tmp_path / "b"))
    for name in tiny.NAMES:
        tiny.ensure(name)
    first, second = hashes(tmp_path / "a"), hashes(tmp_path / "b")
    assert len(first) == 14 and first == second  # 5 + 5 + 4 files
    for path, digest in PINNED.items():
        assert first[path] == digest, path
