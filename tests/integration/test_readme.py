"""Every example in the README runs as written (from the project folder, after set-up), except
the lines marked `# hub`."""

from __future__ import annotations

import re
import shlex

from tests.helpers.invoking import invoke
from tests.helpers.paths import ROOT

# Examples another test runs as written, and checks more closely: each line is that test's
# README_EXAMPLE (asserted below), so it is not run twice.
RUN_ELSEWHERE = {
    "runner experiment=invariance model=tiny_bert": "test_invariance",
    "runner experiment=vocab_size": "test_training",
}


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


def test_examples_run_elsewhere_are_run_there_as_written():
    import importlib

    written = [" ".join(shlex.split(c, comments=True)) for c in examples()]
    for line, module in RUN_ELSEWHERE.items():
        assert line in written, line
        ran = importlib.import_module(f"tests.integration.{module}").README_EXAMPLE
        assert ran == line, (module, ran)


def test_every_offline_example_runs_as_written(tmp_path, monkeypatch):
    """Each example's command line, split as the shell splits it, given to the command's own
    `main` in this process (tests.helpers.invoking.invoke) from the project folder; runner-compare last,
    after the sweeps it reads (the lines in RUN_ELSEWHERE run in their own tests). The installed
    `runner` command itself is run as a process by test_cli, test_install and test_signals."""
    from runner.commands import compare as runner_compare

    uri = f"sqlite:///{tmp_path}/readme.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    commands = [c for c in examples() if " ".join(shlex.split(c, comments=True)) not in RUN_ELSEWHERE]
    later = [c for c in commands if c.startswith("runner-compare")]
    failures = []
    for command in [c for c in commands if c not in later] + later:
        program, *args = shlex.split(command, comments=True)
        main = runner_compare if program == "runner-compare" else None
        proc = invoke(*args, cwd=ROOT, env={"MLFLOW_TRACKING_URI": uri}, main=main)
        if proc.returncode != 0:
            failures.append(f"{command}\n  -> exit {proc.returncode}: {proc.stderr[-400:]}")
    assert len(commands) > len(later) > 0
    assert failures == []
