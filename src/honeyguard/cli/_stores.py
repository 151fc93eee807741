"""Opening the state store from the CLI (shared with a running collector: SQLite WAL)."""

from __future__ import annotations

from honeyguard.clock import SystemClock
from honeyguard.config import Settings
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore


def state_store(settings: Settings) -> StateStore:
    return StateStore(settings.state_url, clock=SystemClock())


def decision_store(settings: Settings) -> DecisionStore:
    return DecisionStore(state_store(settings), clock=SystemClock())


def intel_store(settings: Settings) -> IntelStore:
    return IntelStore(state_store(settings))
