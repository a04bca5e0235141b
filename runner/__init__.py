"""A declarative YAML experiment runner for Hugging Face tokenizers and models, tracked in MLflow.

The Python API (runner.api): `runner.run(*overrides) -> Run`, `runner.sweep(*overrides) -> Sweep`,
`runner.load(run_id, tracking_uri=None) -> Run | Sweep`, and `runner.RunnerError` (`key`,
`problem`, `fix`) for what the user can fix. The command line is `runner` (runner.cli).

Rooms, each importing only those before it: config → data → tokenization → model → tracking →
analysis → engine; errors, console, hub and probe serve them all; api and cli sit on top.
"""

from typing import Any

from runner.errors import RunnerError

__version__ = "0.1.0"
__all__ = ["Run", "RunnerError", "Sweep", "load", "run", "sweep"]


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use: `import runner` stays light for the command line."""
    if name in ("Run", "Sweep", "load", "run", "sweep"):
        from runner import api

        return getattr(api, name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
