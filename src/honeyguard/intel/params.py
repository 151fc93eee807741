"""Scoring parameters, loaded from content/intel/scoring.yaml (or a user's copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from honeyguard.errors import ContentError
from honeyguard.yamlfile import load_yaml_file

DEFAULT_PARAMS_FILE = Path(__file__).resolve().parents[1] / "content" / "intel" / "scoring.yaml"

Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Days = Annotated[float, msgspec.Meta(gt=0)]


class _Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class VerifyRule(_Params):
    min_confidence: Percent = 50
    min_sensors: int = 2
    min_locations: int = 2
    min_sources: int = 2


class ExpireRule(_Params):
    below_confidence: Percent = 10


class ScoringParams(_Params):
    source_cap: Fraction = 0.75
    verify: VerifyRule = msgspec.field(default_factory=VerifyRule)
    expire: ExpireRule = msgspec.field(default_factory=ExpireRule)
    evidence_kept: int = 20
    strength: dict[str, Fraction] = {}
    half_life_days: dict[str, dict[str, Days]] = {}

    def strength_of(self, behaviour: str) -> float:
        return self.strength.get(behaviour, 0.0)

    def half_life_seconds(self, type_: str, role: str) -> float:
        by_role = self.half_life_days.get(type_) or self.half_life_days.get("*") or {}
        days = by_role.get(role) or by_role.get("*") or self.half_life_days.get("*", {}).get("*", 14.0)
        return days * 86400.0


def load_params(path: Path | None = None) -> ScoringParams:
    return load_yaml_file(path or DEFAULT_PARAMS_FILE, ScoringParams, error=ContentError)
