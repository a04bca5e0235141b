"""The `runner` command: Hydra composes and validates, `job.execute` runs and tracks.

Hydra is told to let exceptions through (HYDRA_FULL_ERROR) so that `main` can print every
error the user can fix as one line; the user's own HYDRA_FULL_ERROR=1 still gives tracebacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import cast

import hydra
from omegaconf import DictConfig

from runner import console, errors
from runner.config import schema
from runner.engine.session import Session
from runner.errors import Stop


def _hydra_main(session: Session) -> Callable[[], None]:
    """Hydra's command line (overrides, -m, --cfg, --help) around one job of this Session."""

    @hydra.main(version_base="1.3", config_path="pkg://runner.conf", config_name="config")
    def task(cfg: DictConfig) -> None:
        from runner.engine import job

        job.execute(cfg, session)

    return cast("Callable[[], None]", task)  # hydra.main's wrapper reads sys.argv itself


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
    session = Session.for_process()
    stdout, sys.stdout = sys.stdout, console.Stdout(sys.stdout)  # a reader that goes stops no run
    try:
        with session.active(), session.failures():
            _hydra_main(session)()
    except Stop as stop:  # its reason is on the console already
        sys.exit(stop.code)
    except KeyboardInterrupt as exc:
        code = errors.interrupt_code(exc)
        console.line(f"interrupted ({'SIGTERM' if code == 143 else 'SIGINT'}): stopped")
        sys.exit(code)
    except Exception as caught:
        if user_full_error:
            raise
        error = errors.null_node(caught, sys.argv[1:])
        console.error(error)
        sys.exit(errors.exit_code(error))
    finally:
        session.settle()  # `--cfg job`, `--help` and config errors end before any warm-up
        sys.stdout = stdout


if __name__ == "__main__":
    main()
