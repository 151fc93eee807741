"""Labelling as the sensor does it: many events in one call, repeats answered from memory.

The sensor records events far faster than it can match them one at a time with the caches warm:
between two requests the rest of the sensor runs and pushes the rule databases out of the CPU's
caches. Labelling the events of one event-loop turn together lets ``Engine.match_many`` scan each
database over the whole batch in a row. The labels are the same as ``RuleLabeler.label`` gives.
"""

from __future__ import annotations

from collections.abc import Sequence

from honeyguard.detect.fields import Subject, event_subject
from honeyguard.detect.iocs import subjects_iocs
from honeyguard.detect.labeler import Result, RuleLabeler, apply_result
from honeyguard.detect.resultcache import ResultCache
from honeyguard.model import Event, HttpRequest

CACHE_BYTES = 16 * 1024 * 1024  # request bytes the sensor's result cache may hold
CACHE_ENTRY_OVERHEAD = 512  # the key's tuple and first strings, a Result, the dict slots, roughly
HEADER_OVERHEAD = 160  # a header's tuple and its two strings, beyond their characters
MAX_CACHED_REQUEST = 64 * 1024  # longer requests are matched every time (rare, and would crowd the cache)
_NOTHING = Result()  # shared by every request that matched nothing and carries no IOC: most of them

RequestKey = tuple[str, str, str, tuple[tuple[str, str], ...], bytes]


class BatchLabeler:
    """Labels a batch of events at once (``label_many``), or one (``label``).

    Honeypot traffic repeats itself (the wild-http capture: 115,730 requests, 3,262 distinct) and
    an HTTP request's labels depend on nothing but its method, target, version, headers and body,
    so the results of recent requests are kept in an LRU bounded by the bytes of its keys. The key
    is those fields as recorded: a repeat is answered without building its subject.

    A request is cached the second time it comes, not the first (ResultCache's admission): in a
    stream of distinct requests every entry would be evicted unused, 20,000 requests after it was
    made. A repeat is answered from its third coming.
    """

    def __init__(self, labeler: RuleLabeler, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.labeler = labeler
        self.engine = labeler.engine
        self.cache: ResultCache[RequestKey, Result] = ResultCache(
            cache_bytes, max_entry=MAX_CACHED_REQUEST, entry_overhead=CACHE_ENTRY_OVERHEAD, admit_on_second=True
        )

    def label(self, event: Event) -> Event:
        return self.label_many([event])[0]

    def label_many(self, events: Sequence[Event]) -> list[Event]:
        """Each event with its rules, CVEs, techniques and IOCs filled in, in the same order."""
        results: list[Result | None] = [None] * len(events)
        keys: list[RequestKey | None] = [None] * len(events)
        missing: list[tuple[int, Subject]] = []
        cache = self.cache.entries  # (its C methods inline: no Python frame a request)
        for index, event in enumerate(events):
            body = event.body
            if isinstance(body, HttpRequest):
                key = keys[index] = (body.method, body.target, body.version, tuple(body.headers), body.body)
                found = cache.get(key)
                if found is not None:
                    cache.move_to_end(key)
                    results[index] = found
                    continue
            subject = event_subject(event)
            if subject is not None:
                missing.append((index, subject))
        if missing:
            self._match(missing, results, keys, events)
        return [apply_result(event, result) for event, result in zip(events, results, strict=True)]

    def _match(
        self,
        missing: list[tuple[int, Subject]],
        results: list[Result | None],
        keys: list[RequestKey | None],
        events: Sequence[Event],
    ) -> None:
        """Labels for the subjects no cached result answers, the engine and IOC extraction each
        going stage by stage over the batch."""
        subjects = [subject for _, subject in missing]
        matches = self.engine.match_many(subjects)
        cache = self.cache
        for (index, _), match, iocs in zip(missing, matches, subjects_iocs(subjects), strict=True):
            if match.rules or iocs:
                result = Result(rules=match.rules, cves=match.cves, techniques=match.techniques, iocs=tuple(iocs))
            else:
                result = _NOTHING
            key = keys[index]
            if key is not None and cache.admits(key):  # (the size only for a request admitted)
                body = events[index].body
                assert isinstance(body, HttpRequest)
                size = (body.header_size or _head_size(body)) + len(body.body) + HEADER_OVERHEAD * len(body.headers)
                cache.put(key, result, size)
            results[index] = result


def _head_size(request: HttpRequest) -> int:
    """Roughly the bytes of a request's head, for a request recorded without its header_size."""
    return len(request.method) + len(request.target) + sum(len(n) + len(v) + 4 for n, v in request.headers) + 16
