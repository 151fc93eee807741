"""The result cache of both labellers (``honeyguard detect``'s and the sensor's): an LRU bounded by
the bytes of its keys, optionally admitting a key only on its second coming.

Honeypot traffic repeats itself (the wild-http capture: 115,730 requests, 3,262 distinct) and a
request's labels depend on nothing but the request, so recent results answer most of a real stream.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MET_ONCE_KEYS = 65536  # keys remembered as met once (their hashes), for the admission on second coming


class ResultCache(Generic[K, V]):
    """Results by key, the least recently used dropped first once the entries' sizes pass ``budget``.

    ``entries`` is the OrderedDict itself: a hot loop reads it with its own C methods (``get``,
    then ``move_to_end`` on a hit), a Python method call a lookup would cost a frame.

    With ``admit_on_second``, a key is stored the second time it is offered, not the first (its
    hash is kept meanwhile, in a set cleared when full): in a stream of distinct requests every
    entry would be evicted unused, and the full cache's churn (each entry freed long after it was
    made, out of the CPU's caches) cost the sensor 5-10 us of CPU a distinct request.
    """

    __slots__ = ("_met_once", "_sizes", "budget", "entries", "entry_overhead", "max_entry", "used_bytes")

    def __init__(self, budget: int, *, max_entry: int, entry_overhead: int, admit_on_second: bool = False) -> None:
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.budget = budget
        self.max_entry = max_entry  # larger entries are never stored (rare, and would crowd the rest)
        self.entry_overhead = entry_overhead  # the bytes of an entry beyond its own size, roughly
        self.used_bytes = 0
        self._sizes: dict[K, int] = {}
        self._met_once: set[int] | None = set() if admit_on_second else None

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, key: K) -> V | None:
        """The result kept for ``key`` (now the most recently used), or None."""
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def admits(self, key: K) -> bool:
        """Whether ``put`` would store ``key`` now: always without the admission policy, else on
        its second coming (the first is remembered: a hash collision admits a key one early)."""
        met_once = self._met_once
        if met_once is None:
            return True
        met = hash(key)
        if met in met_once:
            return True
        if len(met_once) >= MET_ONCE_KEYS:
            met_once.clear()
        met_once.add(met)
        return False

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` for ``key`` (``size``: its bytes), unless too large or already kept;
        call ``admits`` first when the cache admits on second coming."""
        if size > self.max_entry or key in self.entries:
            return
        size += self.entry_overhead
        self.entries[key] = value
        self._sizes[key] = size
        self.used_bytes += size
        while self.used_bytes > self.budget:
            old, _ = self.entries.popitem(last=False)
            self.used_bytes -= self._sizes.pop(old)
