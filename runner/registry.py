"""Registries that reach every process: a name → entry mapping (heads, data sources, statistics)
that refuses a name taken twice and, once per process, adds the entries installed packages
declare as entry points — `[project.entry-points."runner.heads"]` and so on — as Hydra finds its
plugins and lm-evaluation-harness its tasks. The CLI, the Python API and every launcher worker
(joblib, Ray) reach them through job.typed, so an installed package extends them all.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TypeVar

from runner.errors import ConfigError, first_line

T = TypeVar("T")


class Registry(dict[str, T]):
    """`group`: the entry-point group; `what`: one entry's name in messages ("head")."""

    def __init__(self, group: str, what: str, entries: dict[str, T]) -> None:
        super().__init__(entries)
        self.group, self.what = group, what
        self.discovered = False

    def register(self, name: str, entry: T) -> None:
        """Add an entry; a name already taken is an error (two packages must not shadow each other)."""
        if name in self:
            raise ValueError(f"a {self.what} named {name!r} is registered already")
        self[name] = entry

    def discover(self) -> None:
        """Add the installed packages' entry points of this group (once per process)."""
        if self.discovered:
            return
        self.discovered = True
        for point in entry_points(group=self.group):
            where = f"{point.dist.name if point.dist else '?'} ({point.value})"
            if point.name in self:
                raise ConfigError(
                    f"entry point {self.group}:{point.name}",
                    f"{where} names a {self.what} that is registered already",
                    "rename it in that package's entry points",
                )
            try:
                self[point.name] = point.load()
            except Exception as exc:
                raise ConfigError(
                    f"entry point {self.group}:{point.name}",
                    f"{where} does not load: {first_line(exc)}",
                    "fix or uninstall that package",
                ) from exc
