"""The sensor's Labeler: fills an event's rules, CVEs, techniques and IOCs as it is recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from honeyguard.config import DetectSettings
from honeyguard.detect.engine import Backend, Engine, Ruleset
from honeyguard.detect.fields import (
    HttpSubject,
    Subject,
    event_subject,
    raw_http_subject,
    raw_subject,
    ssh_command_subject,
)
from honeyguard.detect.iocs import subject_iocs, subjects_iocs
from honeyguard.detect.resultcache import ResultCache
from honeyguard.model import Download, Event, Ioc

CACHE_BYTES = 64 * 1024 * 1024  # request bytes the result cache of classify_raw may hold
CACHE_ENTRY_OVERHEAD = 512  # a Result and the dict slot, roughly
#: a shallow copy of an event (msgspec's Struct.__copy__, which its type stubs do not declare)
_copied: Callable[[Event], Event] = Event.__copy__  # type: ignore[attr-defined]


def subject_for_raw(data: bytes, protocol: str) -> Subject:
    """Raw bytes as the protocol's subject: HTTP split, shell lines as commands, else raw."""
    protocol = protocol.lower()
    if protocol in ("http", "https"):
        return raw_http_subject(data)
    if protocol in ("ssh", "telnet"):
        return ssh_command_subject(data)
    return raw_subject(data, protocol)


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """Labels for one subject: what ``honeyguard detect`` prints and what events carry."""

    rules: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    iocs: tuple[Ioc, ...] = ()


class RuleLabeler:
    """Implements sensor.runtime.Labeler with a compiled Ruleset (one per thread: see Engine)."""

    def __init__(self, engine: Engine, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.engine = engine
        # keyed by (bytes, protocol); an entry's size is its bytes
        self.cache: ResultCache[tuple[bytes, str], Result] = ResultCache(
            cache_bytes, max_entry=cache_bytes // 64, entry_overhead=CACHE_ENTRY_OVERHEAD
        )

    def classify_raw(self, data: bytes, protocol: str = "http") -> Result:
        """Labels for raw bytes a client sent, remembered for identical bytes.

        Honeypot traffic repeats itself (the wild-http capture: 115,730 requests, 3,262 distinct),
        and labels depend on nothing but the bytes, so an LRU of recent results, bounded by the
        bytes of its keys, answers most of a real stream without matching again.
        """
        key = (data, protocol)
        found = self.cache.lookup(key)
        if found is not None:
            return found
        result = self.classify(subject_for_raw(data, protocol))
        self.cache.put(key, result, len(data))
        return result

    def classify_raw_many(self, items: Sequence[tuple[bytes, str]]) -> list[Result]:
        """``classify_raw`` for a batch of (bytes, protocol): the engine and IOC extraction go stage
        by stage over the requests the cache does not answer (Engine.match_many, subjects_iocs),
        which is what `detect` runs."""
        results: list[Result | None] = []
        missing: list[int] = []
        first: dict[tuple[bytes, str], int] = {}  # each key's first index in the batch
        cache = self.cache
        entries = cache.entries  # (its C methods inline: no Python frame a request)
        for index, key in enumerate(items):
            found = entries.get(key)
            if found is not None:
                entries.move_to_end(key)
            elif key not in first or not cache.budget:  # with a cache, a repeat takes its first's
                first.setdefault(key, index)
                missing.append(index)
            results.append(found)
        subjects = [subject_for_raw(*items[i]) for i in missing]
        matches = self.engine.match_many(subjects)
        for index, match, iocs in zip(missing, matches, subjects_iocs(subjects), strict=True):
            result = Result(rules=match.rules, cves=match.cves, techniques=match.techniques, iocs=tuple(iocs))
            cache.put(items[index], result, len(items[index][0]))
            results[index] = result
        return [found or results[first[key]] or Result() for found, key in zip(results, items, strict=True)]

    def classify(self, subject: Subject) -> Result:
        found = self.engine.match(subject)
        return Result(
            rules=found.rules, cves=found.cves, techniques=found.techniques, iocs=tuple(subject_iocs(subject))
        )

    def _classify_remembered(self, subject: Subject) -> Result:
        """``classify``, answered from the result cache for a request already seen: an HTTP
        request's labels depend on its bytes alone, and honeypot traffic repeats itself."""
        if not isinstance(subject, HttpSubject):
            return self.classify(subject)
        key = (subject.raw_bytes(), "http-event")  # parts, not bytes as sent: a key space of its own
        found = self.cache.lookup(key)
        if found is not None:
            return found
        result = self.classify(subject)
        self.cache.put(key, result, len(key[0]))
        return result

    def label(self, event: Event) -> Event:
        subject = event_subject(event)  # None for a Download: apply_result writes its URL
        return apply_result(event, self._classify_remembered(subject) if subject is not None else None)


def apply_result(event: Event, result: Result | None) -> Event:
    """The event with ``result``'s labels written in (None: nothing matched it); a Download event
    gets the URL the shell emulator saw fetched as its IOC."""
    if isinstance(event.body, Download):
        iocs = [Ioc(type="url", value=event.body.url, role="download")]
        return msgspec.structs.replace(event, iocs=_merge(event.iocs, iocs))
    if result is None or not (result.rules or result.iocs or event.rules or event.cves or event.techniques):
        return event  # nothing to write: most events
    # a copy with the labels set: structs.replace would run Event.__post_init__ again (a Python
    # call checking the kind and time, which a copy keeps as they were: ~0.5 us an event)
    labelled = _copied(event)
    labelled.rules = list(result.rules)
    labelled.cves = list(result.cves)
    labelled.techniques = list(result.techniques)
    labelled.iocs = _merge(event.iocs, list(result.iocs))
    return labelled


def _merge(old: list[Ioc], new: list[Ioc]) -> list[Ioc]:
    if not old:
        return new  # (a fresh list: what the comprehension would have built; most events have none)
    seen = {(i.type, i.value) for i in old}
    return old + [i for i in new if (i.type, i.value) not in seen]


def load_labeler(
    settings: DetectSettings | None = None, *, backend: Backend = "auto", builtin: bool = True
) -> RuleLabeler:
    """The built-in rules plus ``settings.rule_dirs``, compiled; raises ContentError on a bad rule."""
    settings = settings or DetectSettings()
    ruleset = Ruleset.load([Path(d) for d in settings.rule_dirs], builtin=builtin)
    return RuleLabeler(ruleset.engine(backend))
