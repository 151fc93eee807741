"""Plain lists: one value a line (text), and CSV with the context of each decision."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import active, in_force, write_chunked
from honeyguard.model.decision import Decision


class PlainText:
    name = "txt"
    filename = "blocklist.txt"
    description = "one blocked value a line (addresses, ranges, domains, URLs)"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        out.write(f"# honeyguard blocklist generated {now.isoformat()}\n")
        # Only values are written: sort the value strings of each type (types in order), not the decisions.
        by_type: dict[str, set[str]] = {}
        for d in in_force(decisions, now):
            by_type.setdefault(d.type, set()).add(d.value)
        written: set[str] = set()
        for type_ in sorted(by_type):
            values = sorted(by_type.pop(type_) - written)
            written.update(values)
            write_chunked(out, (value + "\n" for value in values))


class Csv:
    name = "csv"
    filename = "decisions.csv"
    description = "every decision in force (drops and alerts) with its context"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        out.write("value,type,action,direction,roles,confidence,expires_at,indicator_id,decision_id,reason\n")
        write_chunked(out, map(_row, active(decisions, now, actions=("drop", "alert"))))


def _row(d: Decision) -> str:
    """One CSV line. A line with exactly its 9 commas, no quote and only printable ASCII has no field
    the csv module would quote, so it is joined directly; any other goes through the csv module."""
    text = (f"{d.value},{d.type},{d.action},{d.direction},{'/'.join(d.roles)},{d.confidence},"
            f"{d.expires_at.isoformat()},{d.indicator_id},{d.id},{d.reason}")
    if text.count(",") == 9 and '"' not in text and text.isascii() and text.isprintable():
        return text + "\n"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [d.value, d.type, d.action, d.direction, "/".join(d.roles), d.confidence, d.expires_at.isoformat(),
         d.indicator_id, d.id, d.reason])
    return buffer.getvalue()


EXPORTERS = (PlainText(), Csv())
