"""The runner from a test: its config composed as the CLI composes it, the `runner` command run in
this process, or as a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import OFFLINE


def compose(*overrides: str):
    """Compose the real conf/ with overrides into a typed RunConfig (as the CLI does)."""
    from runner.cli import compose as cli_compose

    return cli_compose(*overrides)


def invoke(*args: str, cwd: Path, env: dict | None = None, timeout: int | None = None, main=None):
    """The `runner` command run in this process (`cli.main` with these arguments; another
    command's `main(argv)` if given), returned as run_cli returns it — exit code, stdout,
    stderr — without ~5 s of imports per call. For tests whose subject is not the process
    itself (signals, kill -9, launchers, the collector of a runner process: run_cli). The
    environment, working directory and argv are restored."""
    import contextlib
    import io

    from runner import cli

    saved = (dict(os.environ), Path.cwd(), sys.argv)
    out, err, code = io.StringIO(), io.StringIO(), 0
    os.environ.update({**OFFLINE, **(env or {})})
    if "HYDRA_FULL_ERROR" not in (env or {}):
        os.environ.pop("HYDRA_FULL_ERROR", None)
    os.chdir(cwd)
    sys.argv = ["runner", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args)) if main else cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.argv = saved[2]
    return subprocess.CompletedProcess(["runner", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 240, module: str = "runner"):
    """Run `python -m runner ARGS` (or another module: `module="runner.commands"` with `sync ARGS`) in a
    subprocess: the test's environment, offline, and without HYDRA_FULL_ERROR (an in-process
    `cli.main()` sets it in os.environ for Hydra)."""
    inherited = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env = {**OFFLINE, **inherited, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
