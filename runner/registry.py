"""Registries that reach every process: a name → entry mapping (heads, data sources, statistics)
that refuses a name taken twice and, on its first lookup in a process — whatever asks: a job, the
Python API, runner-compare, a launcher's worker — adds the entries installed packages declare as
entry points (`[project.entry-points."runner.heads"]` and so on), as Hydra finds its plugins and
lm-evaluation-harness its tasks. Every entry is checked for its kind when it arrives, and every
refusal is one ConfigError naming the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from importlib.metadata import entry_points
from typing import TypeVar

from runner.errors import ConfigError, first_line

T = TypeVar("T")


class Registry(MutableMapping[str, T]):
    """`group`: the entry-point group; `what`: one entry's name in messages ("head"); `accepts`:
    whether an object is an entry of this registry (a Head, a callable)."""

    def __init__(
        self, group: str, what: str, entries: dict[str, T], accepts: Callable[[object], bool] = callable
    ) -> None:
        self.group, self.what, self.accepts = group, what, accepts
        self._entries: dict[str, T] = {}
        self.discovered = False
        for name, entry in entries.items():
            self._add(name, entry, "built in")

    def register(self, name: str, entry: T) -> None:
        """Add an entry; a name already taken is refused (two packages must not shadow each other)."""
        self.discover()
        self._add(name, entry, "registered")

    def _add(self, name: str, entry: object, where: str) -> None:
        if name in self._entries:
            raise ConfigError(
                f"{self.group}:{name}",
                f"{where}: a {self.what} of this name is registered already",
                "rename it (two entries must not shadow each other)",
            )
        if not self.accepts(entry):
            raise ConfigError(
                f"{self.group}:{name}", f"{where}: {entry!r} is not a {self.what}", f"give a {self.what}"
            )
        self._entries[name] = entry  # type: ignore[assignment]  # checked by `accepts`

    def discover(self) -> None:
        """Add the installed packages' entry points of this group (once per process)."""
        if self.discovered:
            return
        self.discovered = True
        for point in entry_points(group=self.group):
            where = f"entry point of {point.dist.name if point.dist else '?'} ({point.value})"
            try:
                loaded = point.load()
            except Exception as exc:
                raise ConfigError(
                    f"entry point {self.group}:{point.name}",
                    f"{where} does not load: {first_line(exc)}",
                    "fix or uninstall that package",
                ) from exc
            try:
                self._add(point.name, loaded, where)
            except ConfigError as exc:
                raise ConfigError(f"entry point {self.group}:{point.name}", exc.problem, exc.fix) from None

    def __getitem__(self, name: str) -> T:
        self.discover()
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        self.register(name, entry)  # the same checks: no way around them

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(self._entries)

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries
