"""The policy: indicator type, role and confidence -> action, direction, duration."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import msgspec

from honeyguard.errors import ContentError
from honeyguard.model.decision import Action, Direction
from honeyguard.model.indicator import Indicator
from honeyguard.yamlfile import load_yaml_file

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "content" / "mitigation" / "policy.yaml"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@lru_cache(maxsize=256)  # a policy has a handful; decide() asks for every decision
def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found:
        raise ValueError(f"duration {text!r} is not like 30m, 12h, 7d or 2w")
    return timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2)])


class PolicyEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    types: list[str]
    roles: list[str]  # "*" = any role
    min_confidence: Annotated[int, msgspec.Meta(ge=0, le=100)]
    action: Action
    direction: Direction
    duration: str

    def __post_init__(self) -> None:
        parse_duration(self.duration)  # fails the load, located, if malformed

    def matches(self, indicator: Indicator) -> bool:
        if indicator.type not in self.types or indicator.confidence < self.min_confidence:
            return False
        # map, not a generator expression: asked of every decision, per entry (a generator's frame
        # measured most of the policy's time)
        return "*" in self.roles or any(map(self.roles.__contains__, indicator.roles))


class PolicyVerdict(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    direction: Direction
    duration: timedelta
    rule: str  # which entry decided, for the trace


class Policy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    entries: list[PolicyEntry]

    def decide(self, indicator: Indicator) -> PolicyVerdict:
        for index, entry in enumerate(self.entries):
            if entry.matches(indicator):
                return PolicyVerdict(action=entry.action, direction=entry.direction,
                                     duration=parse_duration(entry.duration), rule=f"entries[{index}]")
        return PolicyVerdict(action="none", direction="both", duration=timedelta(0), rule="no entry matched")

    def floor(self, type_: str) -> int:
        """The lowest confidence any entry acts on for ``type_`` (101 when none does): below it,
        ``decide`` says "none" whatever the roles."""
        return min((e.min_confidence for e in self.entries if type_ in e.types), default=101)


def load_policy(path: Path | None = None) -> Policy:
    return load_yaml_file(path or DEFAULT_POLICY, Policy, error=ContentError)
