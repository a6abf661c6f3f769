"""Lazy, name-checked registries of methods, detectors and datasets.

A registry stores *targets* as ``"module:attribute"`` strings (or objects) and imports them only on first use,
so listing what exists never imports torch or a detector library.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dcbench.errors import RegistryError


@dataclass(frozen=True)
class Entry:
    name: str
    target: Any  # "module:attr" or the object itself
    description: str
    source: str  # the plugin that registered it

    @property
    def target_repr(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{getattr(self.target, '__module__', '?')}:{getattr(self.target, '__qualname__', repr(self.target))}"


def import_target(reference: str) -> Any:
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise RegistryError(f"target {reference!r} is not of the form 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Registry:
    """Named entries of one kind (``method``, ``detector`` or ``dataset``)."""

    kind: str
    check: Callable[[Any], str | None] | None = None  # returns a problem description, or None when fine
    _entries: dict[str, Entry] = field(default_factory=dict)
    _loaded: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, target: Any, description: str = "", *, source: str = "<direct>") -> Entry:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise RegistryError(f"{source}: invalid {self.kind} name {name!r}")
        if name in self._entries:
            other = self._entries[name]
            raise RegistryError(
                f"duplicate {self.kind} name {name!r}: registered by {other.source} ({other.target_repr}) "
                f"and by {source} ({Entry(name, target, '', source).target_repr})"
            )
        entry = Entry(name, target, description.strip().splitlines()[0] if description.strip() else "", source)
        self._entries[name] = entry
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(self._unknown_message(name)) from None

    def load(self, name: str) -> Any:
        """Import (once) and return the target registered under ``name``, checked against the kind's contract."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self.entry(name)
        try:
            obj = import_target(entry.target) if isinstance(entry.target, str) else entry.target
        except RegistryError:
            raise
        except (Exception, SystemExit) as exc:  # an ImportError from a missing optional dependency is the common case
            what = f"sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else exc
            raise RegistryError(
                f"{self.kind} {name!r} (from {entry.source}) could not be loaded from {entry.target_repr}: "
                f"{type(exc).__name__}: {what}"
            ) from exc
        problem = self.check(obj) if self.check else None
        if problem:
            raise RegistryError(f"{self.kind} {name!r} (from {entry.source}, {entry.target_repr}) {problem}")
        self._loaded[name] = obj
        return obj

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        if close:
            message += f"; did you mean {close[0]!r}?"
        return message + f" Known {self.kind}s: {', '.join(known) if known else '(none)'}"


class Registrar:
    """What a hook receives: adds entries to one registry on behalf of one plugin.

    Additions are staged and committed together by the manager, so a plugin that registers a clashing name
    contributes nothing to that kind rather than half of what it meant to.
    """

    def __init__(self, registry: Registry, source: str):
        self.kind = registry.kind
        self.source = source
        self._registry = registry
        self._staged: list[tuple[str, Any, str]] = []

    def add(self, name: str, target: Any, description: str = "") -> None:
        self._staged.append((name, target, description))

    def commit(self) -> None:
        names = [n for n, _, _ in self._staged]
        for name, target, _ in self._staged:
            problem = _target_problem(target)
            if problem:
                raise RegistryError(f"{self.kind} {name!r}: {problem}")
        for name in names:
            if names.count(name) > 1:
                raise RegistryError(f"duplicate {self.kind} name {name!r}: registered twice by {self.source}")
            if name in self._registry:
                other = self._registry.entry(name)
                raise RegistryError(
                    f"duplicate {self.kind} name {name!r}: registered by {other.source} and by {self.source}"
                )
        added: list[str] = []
        try:
            for name, target, description in self._staged:
                self._registry.add(name, target, description, source=self.source)
                added.append(name)
        except RegistryError:
            for name in added:  # all or nothing: an invalid later name takes back the earlier ones
                self._registry._entries.pop(name, None)
            raise


def _target_problem(target: Any) -> str | None:
    """Why ``target`` can be no registry target (a lazy ``"package.module:attribute"`` reference, or the class or
    function itself), found when the plugin registers it rather than when a run first uses it."""
    if isinstance(target, str):
        module, sep, attr = target.partition(":")
        return None if sep and module and attr else f"target {target!r} is not of the form 'package.module:attribute'"
    if callable(target):
        return None
    kind = type(target).__name__
    return f"target {target!r:.60} is a {kind}, not a class, a function or a 'module:attribute' reference"
