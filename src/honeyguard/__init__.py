"""honeyguard: a self-hosted active defense platform.

Public API lives in the room packages (``honeyguard.model``, ``honeyguard.sensor``,
``honeyguard.store``, ...); see docs/architecture.md for the map.
"""

__version__ = "0.1.0"
