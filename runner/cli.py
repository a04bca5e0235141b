"""The `runner` command: Hydra composes and validates, `job.execute` runs and tracks.

Hydra is told to let exceptions through (HYDRA_FULL_ERROR) so that `main` can print every
error the user can fix as one line; the user's own HYDRA_FULL_ERROR=1 still gives tracebacks.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from runner import console
from runner.config import schema
from runner.engine import interrupt
from runner.engine.session import Session
from runner.errors import Escalated, Stop


def _hydra_main(session: Session) -> Callable[[], None]:
    """Hydra's command line (overrides, -m, --cfg, --help) around one job of this Session."""

    @hydra.main(version_base="1.3", config_path="pkg://runner.conf", config_name="config")
    def task(cfg: DictConfig) -> None:
        from runner.engine import job

        job.execute(cfg, session)

    return task  # hydra.main's wrapper reads sys.argv itself


def compose(*overrides: str) -> schema.RunConfig:
    """The typed, checked RunConfig the CLI would run for these overrides (notebooks, tests, benchmarks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from runner.engine import job

    Session.register_config()
    with initialize_config_module("runner.conf", version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides))
    return job.typed(cfg)


def main() -> None:
    """Console-script entry point: one Session for the process, each error as one line."""
    user_full_error = os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's own switch: let exceptions through to us
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # workers are fresh processes
    session = Session()
    try:
        with session.active():
            _hydra_main(session)()
    except Stop as stop:  # its reason is on the console already
        sys.exit(stop.code)
    except KeyboardInterrupt as exc:
        session.close_open("KILLED", "interrupted (SIGINT/SIGTERM)")
        code = interrupt.exit_code(exc)
        console.line(f"interrupted ({'SIGTERM' if code == 143 else 'SIGINT'}): stopped")
        sys.exit(code)
    except (Exception, Escalated) as caught:
        error = caught.error if isinstance(caught, Escalated) else caught
        session.close_open("FAILED", console.describe(error))
        if user_full_error:
            raise error from None
        console.error(error)
        sys.exit(console.exit_code(error))


def entry() -> None:
    """The `runner` command: `main`, then out of the process without the interpreter's teardown."""
    try:
        main()
    except SystemExit as exc:
        leave(exc.code)
    leave(0)


def leave(code: object) -> None:
    """End the process once everything is written: flush the streams, run the atexit hooks
    (logging's file handlers, temporary folders) and skip freeing torch's, MLflow's and
    SQLAlchemy's modules object by object (~1 s of a short run, and nothing to keep). The
    interpreter ends as usual when a non-daemon thread still works, or when a profiler or
    tracer (cProfile, coverage) writes its data in that teardown."""
    if not isinstance(code, int):  # sys.exit("text") prints the text and exits 1, like Python
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    working = [t for t in threading.enumerate() if t.is_alive() and not t.daemon]
    if len(working) > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (runner | head) or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
