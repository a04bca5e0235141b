"""Errors the user can fix: each renders as one line naming the config key and the fix."""

from __future__ import annotations


class RunnerError(Exception):
    """A problem with the user's input, reported as `key: problem — fix`."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem} — {fix}")

    def __reduce__(self) -> tuple[type[RunnerError], tuple[str, str, str]]:
        return type(self), (self.key, self.problem, self.fix)  # pickled whole (Ray, joblib workers)


class ConfigError(RunnerError):
    """A config value that is well-typed but cannot work (cross-field rules)."""


class DataError(RunnerError):
    """The dataset is not what the config says it is."""


class ModelError(RunnerError):
    """The model or tokenizer cannot be loaded or used as configured."""


class TrackingError(RunnerError):
    """The MLflow store cannot be reached or written."""


class Stop(BaseException):
    """The command stops here with `code`, its reason already on the console. A BaseException,
    so that Hydra carries it out (it keeps an Exception in a failed job's return, and turns one
    raised in a callback into a warning): the CLI exits with `code`, the Python API raises
    `error` (a job's failure) or reads what was kept."""

    def __init__(self, code: int, error: BaseException | None = None) -> None:
        self.code, self.error = code, error
        super().__init__(f"exit {code}")


class Escalated(BaseException):
    """An error raised in a Hydra callback, carried past Hydra (which turns an Exception there
    into a warning) to cli.main, which reports `error` like any other."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(str(error))


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message as one short line (libraries' messages span many)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.splitlines()[0].split())[:limit]
