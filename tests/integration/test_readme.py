"""Every example in the README runs as written (from the project folder, after set-up), except
the lines marked `# hub`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def examples() -> list[str]:
    """The commands of the README's Examples block, continuation lines joined, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Examples\n.*?```bash\n(.*?)```", text, re.S).group(1)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.search(r"#\s*hub\s*$", line):
            continue
        commands.append(line)
    return commands


def test_the_examples_block_is_found():
    commands = examples()
    assert len(commands) >= 15 and all(c.startswith(("runner ", "runner-compare ")) for c in commands)


def test_every_offline_example_runs_as_written(tmp_path):
    """Two at a time (the machine's two cores); runner-compare last, after the sweeps it reads."""
    from concurrent.futures import ThreadPoolExecutor

    from runner.tracking.tracker import Tracker

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["MLFLOW_TRACKING_URI"] = uri = f"sqlite:///{tmp_path}/readme.db"
    Tracker(uri, "runner")  # the store exists before the examples run side by side

    def run(command: str) -> str | None:
        proc = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        return (
            None if proc.returncode == 0 else f"{command}\n  -> exit {proc.returncode}: {proc.stderr[-400:]}"
        )

    commands = examples()
    later = [c for c in commands if c.startswith("runner-compare")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(run, [c for c in commands if c not in later]) if f]
    failures += [f for f in map(run, later) if f]
    assert len(commands) > len(later) > 0
    assert failures == []
