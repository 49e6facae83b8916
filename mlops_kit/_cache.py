"""A small thread-safe least-recently-used cache with a loader per lookup.

``functools.lru_cache`` keys on every argument; the kit's caches key on an
identity (a model version, a logged model's uuid) while loading from a URI that
may differ between calls for the same identity (an alias, a version number).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class LRUCache(Generic[T]):
    """At most ``size`` values; ``get(key, load)`` calls ``load()`` on a miss.

    The loader runs outside the lock, so a slow load does not block hits on
    other keys; two threads missing the same key at once may both load it.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
