"""Stopping a run on SIGINT/SIGTERM at a safe point.

The handlers only note the signal; the pipeline calls `check()` between its steps and batches,
and the KeyboardInterrupt is raised there, in our own frame. Raised inside library code it can
be swallowed (datasets catches KeyboardInterrupt in places) or abort the whole process (a C++
frame cannot carry it: "terminate called … KeyboardInterrupt"), leaving the run RUNNING. A
second signal interrupts at once, for a step that would take too long.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

from runner.errors import Interrupted

Handler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal returns
_requested: int | None = None  # the signal received, until the run has stopped


def check() -> None:
    """Raise Interrupted (a KeyboardInterrupt) if a stop was asked for since the job started."""
    if _requested is not None:
        raise Interrupted(_requested)


class handled:
    """Within this block SIGINT and SIGTERM ask for a stop instead of raising wherever the
    interpreter happens to be; leaving it with a stop pending raises KeyboardInterrupt."""

    def __enter__(self) -> None:
        global _requested
        _requested = None

        def ask(signum: int, frame: FrameType | None) -> None:
            global _requested
            if _requested is not None:  # the second signal: stop now
                raise Interrupted(signum)
            _requested = signum

        self._saved: dict[int, Handler] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is signal.SIG_IGN:  # e.g. a background job of a script
                continue
            try:
                self._saved[signum] = signal.signal(signum, ask)
            except ValueError:  # not the main thread (some launchers): leave signals alone
                return

    def __exit__(self, kind: type | None, *exc: object) -> None:
        global _requested
        for signum, previous in self._saved.items():
            signal.signal(signum, previous)
        pending, _requested = _requested, None
        if pending is not None and kind is None:  # asked to stop after the last check
            raise Interrupted(pending)
