"""Opening the state store from the CLI (shared with a running collector: SQLite WAL).

Imports are deferred so that `honeyguard --help` and unrelated commands stay quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from honeyguard.clock import SystemClock
from honeyguard.config import Settings

if TYPE_CHECKING:
    from honeyguard.store.decisions import DecisionStore
    from honeyguard.store.intel import IntelStore
    from honeyguard.store.state import StateStore


def state_store(settings: Settings) -> StateStore:
    from honeyguard.store.state import StateStore

    return StateStore(settings.state_url, clock=SystemClock())


def decision_store(settings: Settings) -> DecisionStore:
    from honeyguard.store.decisions import DecisionStore

    return DecisionStore(state_store(settings), clock=SystemClock())


def intel_store(settings: Settings) -> IntelStore:
    from honeyguard.store.intel import IntelStore

    return IntelStore(state_store(settings))
