"""One lazy name -> object registry, and the one "unknown name, did you mean" message.

Backends, judges, rule operators, adversarial families, embedders and importers are all
chosen by name (on the command line, in a suite, in settings). A `Registry` maps each name
to a "package.module:attr" string, imported only when that name is looked up (so importing
a registry imports nothing: naming the fake backend must not import torch), or to an
object already built (operators registered by a decorator). Third parties add names under
an entry-point group, read on the first lookup of a name the registry does not hold, or
the first listing, and read again when `sys.path` changes. Built-in names cannot be
shadowed by an entry point.

A `Registry` is a read-only `Mapping`: `name in registry` and iterating the names import
nothing; `registry[name]` imports (KeyError for an unknown name, as a dict does), while
`registry.load(name)` raises the registry's own error, which says what kind of thing was
asked for, the name, the closest known name and every known name.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

ErrorFactory = Callable[[str], Exception]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `known` (difflib), or the empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_message(
    kind: str, name: str, known: Iterable[str], *, plural: str | None = None, hint: str = ""
) -> str:
    """`unknown <kind> 'name' (did you mean 'x'?); valid <plural>: a, b, c<hint>`, with the
    known names in the order given."""
    known = list(known)
    listed = ", ".join(known) if known else "none"
    return (
        f"unknown {kind} {name!r}{did_you_mean(name, known)}; "
        f"valid {plural or kind + 's'}: {listed}{hint}"
    )


class Registry(Mapping[str, T], Generic[T]):
    """Names of one kind of thing (`kind`, e.g. "backend"), each a "module:attr" target
    (`entries`, `register`) imported on first lookup, or an object (`objects`, `add`).

    - `group`: an entry-point group whose entries add names (never replacing built-ins).
    - `targets`: whether `load` also accepts a literal "package.module:attr" name.
    - `error`: builds the exception raised for an unknown name or a target that does not
      import (the caller's own error type: BackendError, ConfigError, ValueError, ...).
    - `hint`: appended to the unknown-name message (how to add a name).
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str] | None = None,
        *,
        objects: Mapping[str, T] | None = None,
        plural: str | None = None,
        group: str | None = None,
        targets: bool = False,
        error: ErrorFactory = ValueError,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.group = group
        self.targets = targets
        self.error = error
        self.hint = hint
        self._order: dict[str, None] = dict.fromkeys(entries or {})
        self._entries: dict[str, str] = dict(entries or {})
        self._objects: dict[str, T] = {}
        self._loaded: dict[str, T] = {}
        for name, value in (objects or {}).items():
            self.add(name, value)
        self._found: dict[str, importlib.metadata.EntryPoint] | None = None
        self._found_on: tuple[str, ...] | None = None

    # -- registering -----------------------------------------------------------------
    def register(self, name: str, target: str) -> None:
        """Add (or replace) `name` as a "module:attr" target, imported when looked up."""
        _split(target)  # fail now on a malformed target, not at the first lookup
        self._objects.pop(name, None)
        self._loaded.pop(name, None)
        self._entries[name] = target
        self._order[name] = None

    def add(self, name: str, value: T) -> T:
        """Add (or replace) `name` as an object already built; returns it."""
        self._entries.pop(name, None)
        self._loaded.pop(name, None)
        self._objects[name] = value
        self._order[name] = None
        return value

    def refresh(self) -> None:
        """Forget the entry points read so far (they are read again when next needed)."""
        self._found = None
        self._found_on = None

    # -- listing (imports nothing) ---------------------------------------------------
    def entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        """The group's entry points by name, built-in names left out; read once for each
        `sys.path` (a folder added to it may bring a distribution with entry points)."""
        if self.group is None:
            return {}
        path = tuple(sys.path)
        if self._found is None or self._found_on != path:
            found = importlib.metadata.entry_points(group=self.group)
            self._found = {ep.name: ep for ep in found}
            self._found_on = path
            for name in [n for n in self._loaded if n not in self._entries]:
                del self._loaded[name]  # loaded from an entry point read before
        return {name: ep for name, ep in self._found.items() if not self._builtin(name)}

    def _builtin(self, name: str) -> bool:
        return name in self._order

    def builtin_names(self) -> tuple[str, ...]:
        """The names given in code, in registration order (no entry point is read)."""
        return tuple(self._order)

    def names(self) -> tuple[str, ...]:
        """Every name: the built-in ones in registration order, then the entry points'."""
        return (*self.builtin_names(), *sorted(self.entry_points()))

    def target(self, name: str) -> str | None:
        """The "module:attr" `name` stands for (None for an object given to `add`)."""
        if name in self._entries:
            return self._entries[name]
        if name in self._objects:
            return None
        found = self.entry_points().get(name)
        return None if found is None else found.value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self._builtin(name) or name in self.entry_points()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, name: str) -> T:
        if name not in self:
            raise KeyError(name)
        return self.load(name)

    # -- looking up ------------------------------------------------------------------
    def unknown(self, name: str) -> Exception:
        """The error for an unknown `name` (to raise where a name is only checked)."""
        message = unknown_message(
            self.kind, name, sorted(self.names()), plural=self.plural, hint=self.hint
        )
        return self.error(message)

    def check(self, name: str) -> str:
        """`name` when the registry knows it (or it is an accepted "module:attr"), else the
        unknown-name error. Imports nothing."""
        if name in self or (self.targets and ":" in name):
            return name
        raise self.unknown(name)

    def load(self, name: str) -> T:
        """The object `name` stands for: imported on first use, then kept."""
        if name in self._objects:
            return self._objects[name]
        if name in self._entries:
            if name not in self._loaded:
                self._loaded[name] = cast(T, self._import(name, self._entries[name]))
            return self._loaded[name]
        point = self.entry_points().get(name)  # forgets loads from a stale read
        if point is not None:
            if name not in self._loaded:
                try:
                    self._loaded[name] = cast(T, point.load())
                except Exception as error:
                    raise self.error(
                        f"{self.kind} {name!r}: entry point {point.value!r} "
                        f"(group {self.group!r}) failed to load: {error}"
                    ) from error
            return self._loaded[name]
        if self.targets and ":" in name:
            return cast(T, self._import(name, name))  # a spelled-out target is not a name
        raise self.unknown(name)

    def _import(self, name: str, target: str) -> Any:
        try:
            module_name, attr = _split(target)
        except ValueError as error:
            raise self.error(f"{self.kind} {name!r}: {error}") from None
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise self.error(
                f"{self.kind} {name!r}: cannot import module {module_name!r} ({error}); "
                "install the package that provides it or fix the name"
            ) from error
        obj: Any = module
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise self.error(
                f"{self.kind} {name!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
        return obj


def _split(target: str) -> tuple[str, str]:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{target!r} is not of the form 'package.module:attr'")
    return module_name, attr
