"""docs/events.md and the code name the same event kinds and fields."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from honeyguard.model import EVENT_KINDS, Event, EventBody

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _doc_sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_kind_in_code_is_documented_and_no_other() -> None:
    assert set(_doc_sections()) == set(EVENT_KINDS)


def test_every_body_field_is_documented_under_its_kind() -> None:
    sections = _doc_sections()
    for body_type in EventBody.__args__:  # type: ignore[attr-defined]
        kind = body_type.__struct_config__.tag
        for field in msgspec.structs.fields(body_type):
            assert f"`{field.name}`" in sections[kind], f"{kind}.{field.name} missing from docs/events.md"


def test_every_common_field_is_documented() -> None:
    head = DOC.read_text(encoding="utf-8").split("## Kinds")[0]
    for field in msgspec.structs.fields(Event):
        assert f"`{field.name}`" in head, f"Event.{field.name} missing from docs/events.md"
