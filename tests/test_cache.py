"""The kit's small LRU cache: loads once per key, forgets the least recently used."""
from __future__ import annotations

from mlops_kit._cache import LRUCache


def test_loads_once_per_key_and_evicts_the_least_recently_used() -> None:
    loads: list[str] = []
    cache: LRUCache[str] = LRUCache(2)

    def get(key: str) -> str:
        return cache.get(key, lambda: loads.append(key) or key.upper())

    assert [get("a"), get("b"), get("a")] == ["A", "B", "A"]
    assert loads == ["a", "b"]
    get("c")  # evicts "b": "a" was used more recently
    get("a")
    get("b")
    assert loads == ["a", "b", "c", "b"]
    cache.clear()
    get("a")
    assert loads[-1] == "a" and len(loads) == 5
