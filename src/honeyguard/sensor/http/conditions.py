"""What a route may look at beyond method and path: headers, query parameters, the body.

Only routes whose path already matched ask these questions, so plain routes cost nothing more.
Every value is looked at through a bounded window (MAX_INPUT characters), so no regex sees more
than that however large the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from honeyguard.sensor.http.parser import Request
from honeyguard.sensor.http.persona import Condition

MAX_INPUT = 16 * 1024  # characters of one header, parameter or body a condition or extractor reads
MAX_PARAMS = 256  # query or form fields parsed at most


def bounded(text: str) -> str:
    return text if len(text) <= MAX_INPUT else text[:MAX_INPUT]


def decoded(text: str) -> str:
    """Percent-decoded (as servers decode a path or parameter); unchanged when there is nothing to decode."""
    return unquote(text, errors="replace") if "%" in text else text


def header_values(request: Request, name: str) -> list[str]:
    """Every value of a header (``*``: of every header), bounded."""
    if name == "*":
        return [bounded(value) for _, value in request.headers]
    lower = name.lower()
    return [bounded(value) for key, value in request.headers if key.lower() == lower]


def query_of(target: str) -> str:
    mark = target.find("?")
    if mark < 0:
        return ""
    end = target.find("#", mark)
    return target[mark + 1:end if end >= 0 else len(target)]


def params(text: str) -> dict[str, str]:
    """``a=1&b=2`` as the first value of each name, percent- and plus-decoded, bounded."""
    found: dict[str, str] = {}
    for count, pair in enumerate(bounded(text).split("&")):
        if count >= MAX_PARAMS:
            break
        name, _, value = pair.partition("=")
        key = unquote_plus(name, errors="replace")
        if key and key not in found:
            found[key] = unquote_plus(value, errors="replace")
    return found


def body_text(request: Request) -> str:
    return bounded(request.body.decode("latin-1")) if request.body else ""


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    condition: Condition
    regex: re.Pattern[str] | None
    contains: str | None  # lower-cased

    def holds(self, request: Request) -> bool:
        return self._test(request) != self.condition.negate

    def _test(self, request: Request) -> bool:
        cond = self.condition
        if cond.header is not None:
            values = header_values(request, cond.header)
        elif cond.query is not None:
            value = params(query_of(request.target)).get(cond.query)
            values = [] if value is None else [value]
        elif cond.body:
            text = body_text(request)
            values = [text] if text else []
        else:
            values = [bounded(request.target)]
        if not values:
            return False
        if self.regex is None and self.contains is None:
            return True
        return any(self._matches(value) or ("%" in value and self._matches(decoded(value))) for value in values)

    def _matches(self, value: str) -> bool:
        if self.regex is not None:
            return self.regex.search(value) is not None
        assert self.contains is not None
        return self.contains in value.lower()


def compile_conditions(conditions: list[Condition]) -> tuple[CompiledCondition, ...]:
    return tuple(CompiledCondition(condition=c, regex=re.compile(c.regex) if c.regex is not None else None,
                                   contains=c.contains.lower() if c.contains is not None else None)
                 for c in conditions)


def all_hold(conditions: tuple[CompiledCondition, ...], request: Request | None) -> bool:
    if request is None:
        return False
    return all(c.holds(request) for c in conditions)
