"""Emulated services, one module each. A module joins by defining ``SERVICE``; nothing lists them."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from honeyguard.sensor.runtime import Service


@cache
def service_registry() -> dict[str, Service]:
    """Every service module in this package that defines SERVICE, by its name."""
    found: dict[str, Service] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        service = getattr(module, "SERVICE", None)
        if service is not None:
            found[service.name] = service
    return found
