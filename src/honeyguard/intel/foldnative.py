"""The book's fold in C (_foldnative.c): the same fold, each indicator's record a C struct (its
``record()`` is the Python fold's _Entry, for the book's readers). Optional: where it was not
built, the book folds in Python (its reference, which the tests hold it to)."""

from __future__ import annotations

import importlib
from typing import Any

from honeyguard.intel import sightings
from honeyguard.intel.scoring import Accumulator
from honeyguard.model import SshLogin


def load(entry_type: type, source_type: type) -> Any:
    """The extension, handed the records and tables it folds with; None where it was not built."""
    try:
        native = importlib.import_module("honeyguard.intel._foldnative")
    except ImportError:
        return None
    native.configure(
        entry_type,
        source_type,
        Accumulator,
        SshLogin,
        sightings._from_ioc,
        sightings.seen_in,
        sightings._AFTER_LOGIN,
        sightings._UNLABELLED,
        sightings._SCAN_TECHNIQUES,
    )
    return native
