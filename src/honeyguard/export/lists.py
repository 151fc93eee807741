"""Plain lists: one value a line (text), and CSV with the context of each decision."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import active
from honeyguard.model.decision import Decision


class PlainText:
    name = "txt"
    filename = "blocklist.txt"
    description = "one blocked value a line (addresses, ranges, domains, URLs)"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        out.write(f"# honeyguard blocklist generated {now.isoformat()}\n")
        seen: set[str] = set()
        for decision in active(decisions, now):
            if decision.value not in seen:
                seen.add(decision.value)
                out.write(decision.value + "\n")


class Csv:
    name = "csv"
    filename = "decisions.csv"
    description = "every decision in force (drops and alerts) with its context"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["value", "type", "action", "direction", "roles", "confidence", "expires_at",
                         "indicator_id", "decision_id", "reason"])
        for d in active(decisions, now, actions=("drop", "alert")):
            writer.writerow([d.value, d.type, d.action, d.direction, "/".join(d.roles), d.confidence,
                             d.expires_at.isoformat(), d.indicator_id, d.id, d.reason])


EXPORTERS = (PlainText(), Csv())
