"""Errors in one place: the runner's own (each renders as one line naming the config key and the
fix), how any error is classified (exit 2 for the config, 1 for a failed run, 128 + n for a
signal), worded as that one line (Hydra's and OmegaConf's texts included) and converted into a
RunnerError for the Python API. The console only prints what this module words.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence


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


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal (runner.engine.interrupt): `signum` says which."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")


def interrupt_code(exc: BaseException) -> int:
    """The shell's code for a run stopped by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
    return 128 + (exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT))


def exit_code(exc: BaseException) -> int:
    """The exit code of an error: 2 for the config, 1 for a failed run (the README's table)."""
    return 2 if is_config_error(exc) else 1


def is_config_error(exc: BaseException) -> bool:
    """Exit 2 for every config error (Hydra, OmegaConf, the cross-field checks); 1 for a failed run."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    config = (HydraException, OmegaConfBaseException, ConfigError, YAMLError)
    return isinstance(exc, config) or isinstance(exc.__cause__, (OmegaConfBaseException, ConfigError))


def describe(exc: BaseException) -> str:
    """One line naming the key, the problem and the fix, for any error the user can meet."""
    if isinstance(exc, RunnerError):
        return str(exc)
    from hydra.errors import MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    cause = exc if isinstance(exc, OmegaConfBaseException) else exc.__cause__
    if isinstance(cause, RunnerError):
        return str(cause)
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None) or ""
        msg = _one_line(getattr(cause, "msg", None) or str(cause))
        if "not in" in msg and key:
            level = getattr(cause, "object_type", None)  # the config class the key was looked up in
            msg += f" — {_did_you_mean(key, level)}check the spelling; `runner --cfg job` lists the keys"
        elif "Invalid value" in msg:
            msg += " — use one of those"
        elif "could not be converted to" in msg:
            wanted = msg.rsplit(" ", 1)[-1]
            msg += f" — give {CONVERSIONS.get(wanted, 'a ' + wanted)}, e.g. {key}={EXAMPLES.get(wanted, '…')}"
        return f"{key}: {msg}" if key else msg
    if isinstance(exc, MissingConfigException):
        text = str(exc)
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        head = _one_line(text.split("Available options")[0])
        return f"{head} — available: {', '.join(options)}" if options else head
    bare = _bare_non_ascii(exc)
    if bare:
        return bare
    import yaml

    if isinstance(exc, yaml.YAMLError):
        return f"malformed YAML: {_one_line(str(exc))} — fix the file's syntax"
    if isinstance(exc, OSError) and exc.filename:
        return _os_error(exc)
    if 'Could not detect "srun"' in str(exc):
        return (
            "hydra/launcher=slurm: SLURM is not available here (no srun) — run from a SLURM login "
            "node, or use hydra/launcher=submitit_local, hydra/launcher=joblib or the default launcher"
        )
    return f"{type(exc).__name__}: {_one_line(str(exc))} (HYDRA_FULL_ERROR=1 shows the traceback)"


def _bare_non_ascii(exc: BaseException) -> str | None:
    """Hydra's override grammar takes unquoted values in ASCII only: `dataset.text_column=문장`
    fails to parse. The line to copy instead, with the value quoted for Hydra and the shell."""
    from hydra.errors import OverrideParseException

    if not isinstance(exc, OverrideParseException):
        return None
    override = getattr(exc, "override", None) or ""
    key, sep, value = override.partition("=")
    if not sep or value.isascii():
        return None
    return (
        f"{key}: Hydra reads a value outside ASCII only inside quotes — write it as {pasteable(key, value)}"
    )


def _os_error(exc: OSError) -> str:
    """Blame outputs/ only for a path inside it; any other path is named as it is."""
    from pathlib import Path

    path = Path(str(exc.filename)).resolve()
    if Path("outputs").resolve() in (path, *path.parents):
        return (
            f"hydra.run.dir / outputs: cannot write {exc.filename} ({exc.strerror}) — make outputs/ "
            "a writable directory, or run from another directory"
        )
    return (
        f"cannot access {exc.filename} ({exc.strerror}) — check that the path in the config "
        "(dataset.path, tokenizer.name_or_path, model.name_or_path) exists and is readable"
    )


CONVERSIONS = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false"}
EXAMPLES = {"Integer": "32", "Float": "0.5", "Boolean": "true"}


def _did_you_mean(key: str, level: object) -> str:
    """`did you mean `model`? ` when the unknown key is close to a field of the config class it
    was looked up in (OmegaConf's `object_type`)."""
    import dataclasses
    import difflib

    if not isinstance(level, type) or not dataclasses.is_dataclass(level):
        return ""
    parent, _, last = key.rpartition(".")
    close = difflib.get_close_matches(last, [f.name for f in dataclasses.fields(level)], n=1)
    return f"did you mean `{(parent + '.' if parent else '') + close[0]}`? " if close else ""


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().split("\n    full_key")[0]).strip()[:500]


NULL_ROOT = "Unexpected type for root: NoneType"  # OmegaConf.update under a node that is null


def null_node(error: BaseException, overrides: Sequence[str]) -> BaseException:
    """An override that sets a field under a node the composed config leaves null — most often
    `tokenizer.train.*` without `tokenizer=train` — as a ConfigError naming it and the choice
    that fills the node (OmegaConf says only `Unexpected type for root: NoneType`)."""
    if not isinstance(error, AssertionError) or NULL_ROOT not in str(error):
        return error
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o]
    keys = [k for k in keys if "." in k and "@" not in k]
    chosen = {o.split("=", 1)[0] for o in overrides if "=" in o and "." not in o.split("=", 1)[0]}
    for key in keys:
        if key.startswith("tokenizer.train.dataset.") and "tokenizer" in chosen:
            return ConfigError(
                key,
                "sets a field of the training dataset, but tokenizer.train.dataset is null "
                "(training on the run's own dataset)",
                "name one first: dataset@tokenizer.train.dataset=klue_ner (or another dataset preset)",
            )
        if key.startswith("tokenizer.train."):
            return ConfigError(
                key,
                "sets a training option, but no tokenizer is trained (tokenizer.train is null)",
                "add tokenizer=train (or a trained preset, e.g. tokenizer=klue_unigram)",
            )
    key = keys[0] if keys else "overrides"
    return ConfigError(
        key, "sets a field under a config node that is null here", "choose the option that fills it first"
    )


def as_runner_error(error: BaseException) -> BaseException:
    """A config error of Hydra or OmegaConf as a ConfigError (key, problem, fix: the line the CLI
    prints); the runner's own errors and a run's failures as they are."""
    if isinstance(error, RunnerError) or not is_config_error(error):
        return error
    text = describe(error)
    missing = re.search(r"Could not find '(.+)/([^/']+)'", text)
    if missing:  # a group option that does not exist: `padding=nope`
        key, text = missing[1].replace("/", "."), f"no option '{missing[2]}'{text[missing.end() :]}"
    elif ": " in text.split(" — ")[0]:
        key, _, text = text.partition(": ")
    else:
        key = "config"
    problem, _, fix = text.partition(" — ")
    return ConfigError(key, problem, fix or "`runner --cfg job` shows the composed config")


def pasteable(key: str, value: str) -> str:
    """`key=value` as it pastes into a shell and parses in Hydra: the value double-quoted for
    Hydra when its grammar does not read the bare value back as that same string (Hangul,
    brackets), the whole override quoted for the shell where it needs it (`'key="문장"'`)."""
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    override = f"{key}={value}"
    try:
        bare = OverridesParser.create().parse_override(override).value() == value
    except Exception:  # Hydra's grammar error: the bare value does not parse
        bare = False
    if not bare:
        override = f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
    return shlex.quote(override)
