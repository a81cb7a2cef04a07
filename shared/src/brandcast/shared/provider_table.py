"""An adapter's table of providers: short name -> ``"module:Class"``, resolved lazily.

Modelled on kombu's transport table:

- a provider's module is imported only when the provider is used, so an unused
  provider's dependencies are never loaded;
- a misspelt name fails with ``No such SMS provider: 'twilo'. Did you mean 'twilio'?``;
- a full dotted path (``"acme_sms.provider:AcmeProvider"`` or
  ``"acme_sms.provider.AcmeProvider"``) loads a provider from another package, so a
  channel team can ship one without touching ours.

The object a name resolves to builds the provider from the adapter's settings: a
class (or function) with a ``from_settings(settings)`` attribute is built with it,
anything else is called with the settings.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

P = TypeVar("P")


class UnknownProviderError(ValueError):
    """A name that is neither in the table nor a loadable dotted path."""


class ProviderTable(Generic[P]):
    """``name -> "module:Class"`` for one kind of provider (``kind`` names it in errors)."""

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> tuple[str, ...]:
        """The short names, in the table's order."""
        return tuple(self._entries)

    def check(self, names: Iterable[str]) -> tuple[str, ...]:
        """``names`` as given when each is known or a dotted path; else UnknownProviderError.

        Cheap (imports nothing), for settings validation; a dotted path is only
        loaded by :meth:`resolve`.
        """
        checked = tuple(names)
        for name in checked:
            if name not in self._entries and not _is_dotted(name):
                raise UnknownProviderError(self._unknown(name))
        return checked

    def validated(self, names: Iterable[str]) -> tuple[str, ...]:
        """A ``<CHANNEL>_PROVIDERS`` list as settings validation wants it: short names in
        lower case (a dotted path kept as given), at least one, each known, none twice.

        Raises ``ValueError`` (an :class:`UnknownProviderError` for an unknown name).
        """
        checked = self.check(name if _is_dotted(name) else name.lower() for name in names)
        if not checked:
            raise ValueError(f"at least one {self.kind} is required")
        if len(set(checked)) != len(checked):
            raise ValueError(f"a {self.kind} is listed twice")
        return checked

    def resolve(self, name: str) -> Any:
        """The class or factory ``name`` stands for, imported now."""
        target = self._entries.get(name)
        if target is None:
            if not _is_dotted(name):
                raise UnknownProviderError(self._unknown(name))
            target = name
        module_name, _, attribute = target.partition(":")
        if not attribute:
            module_name, _, attribute = target.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UnknownProviderError(
                f"{self.kind} {name!r}: cannot import {module_name}: {exc}"
            ) from exc
        try:
            found = module
            for part in attribute.split("."):
                found = getattr(found, part)
        except AttributeError:
            raise UnknownProviderError(
                f"{self.kind} {name!r}: {module_name} has no {attribute}"
            ) from None
        return found

    def build(self, name: str, settings: Any) -> P:
        """The provider ``name``, built from ``settings``."""
        factory = self.resolve(name)
        from_settings = getattr(factory, "from_settings", None)
        built: P = from_settings(settings) if callable(from_settings) else factory(settings)
        return built

    def _unknown(self, name: str) -> str:
        message = f"No such {self.kind}: {name!r}."
        close = difflib.get_close_matches(name, list(self._entries), n=1)
        if close:
            message += f" Did you mean {close[0]!r}?"
        known = ", ".join(self._entries)
        return f"{message} Known: {known}; or give a dotted path (package.module:Class)."


def _is_dotted(name: str) -> bool:
    return ":" in name or "." in name
