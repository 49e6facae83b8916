"""One shape for every plug-in point: register by name, look up by name.

Online store backends (:mod:`mlops_kit.features.online`), rollout policies
(:mod:`mlops_kit.rollout.policies`), pipelines (:mod:`mlops_kit.jobs.pipelines`)
and lab checkers (:mod:`mlops_kit.labs.registry`) each keep a
:class:`Registry`. A name nobody registered raises
:class:`~mlops_kit.exceptions.NotFoundError` listing the names that exist, so a
typo is answered with the right spelling.

Examples
--------
>>> stores = Registry("online store")
>>> stores.register("memory", dict)
<class 'dict'>
>>> stores.lookup("memory")
<class 'dict'>
>>> stores.lookup("memcached")
Traceback (most recent call last):
...
mlops_kit.exceptions.NotFoundError: No online store named 'memcached'. Known online stores: memory.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Generic, TypeVar

from mlops_kit.exceptions import NotFoundError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(MutableMapping[str, T], Generic[T]):
    """Named plug-ins of one kind, in the order they were registered.

    Parameters
    ----------
    kind : str
        What is registered, singular (``"online store"``); it names the error.
    plural : str, optional
        Its plural for the error's list (default: ``kind + "s"``).
    hint : str or callable, optional
        A sentence added to the error: how to register one (a callable gets
        the unknown name).
    known : callable, optional
        Returns the names to list in the error when more exist than are
        registered yet (lab checkers are imported on first use).
    sort : bool
        List known names sorted (default) or in registration order.
    """

    def __init__(self, kind: str, *, plural: str | None = None,
                 hint: str | Callable[[str], str] = "",
                 known: Callable[[], Iterable[str]] | None = None, sort: bool = True) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.hint = hint
        self._known = known
        self._sort = sort
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Make ``item`` available as ``name`` (replacing one of that name); returns it."""
        self._items[name] = item
        return item

    def lookup(self, name: str, *, where: str = "") -> T:
        """The item registered as ``name``.

        Raises
        ------
        NotFoundError
            Nothing is registered as ``name``; the message lists what is.
        """
        try:
            return self._items[name]
        except KeyError:
            raise self.not_found(name, where=where) from None

    def names(self) -> list[str]:
        """The names an error would list."""
        names = list(self._known()) if self._known is not None else list(self._items)
        return sorted(names) if self._sort else names

    def not_found(self, name: str, *, where: str = "") -> NotFoundError:
        """The error for an unknown ``name`` (``where``: e.g. `` in lab 'x'``)."""
        listed = ", ".join(self.names()) or "none"
        message = f"No {self.kind} named {name!r}{where}. Known {self.plural}: {listed}."
        hint = self.hint(name) if callable(self.hint) else self.hint
        return NotFoundError(f"{message} {hint}".strip())

    # ------------------------------------------------------ mapping protocol
    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __setitem__(self, name: str, item: T) -> None:
        self.register(name, item)

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._items)})"
