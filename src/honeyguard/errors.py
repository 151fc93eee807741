"""The exception tree. Every error honeyguard raises on purpose derives from HoneyguardError.

HoneyguardError
├── ConfigError          a settings file is wrong (carries file:line and key)
├── ContentError         a rule or persona file is wrong (carries file:line and field)
├── StoreError           the state or event store cannot do what was asked
│   └── AuthError        a token or API key is missing or wrong
├── ShipError            events could not be delivered to the collector (retried)
└── ServiceError         a sensor listener cannot start (port in use, bad TLS material)

The CLI prints ``str(error)`` on one line and exits non-zero; it never shows a traceback
for one of these.
"""

from __future__ import annotations


class HoneyguardError(Exception):
    """Root of every error honeyguard raises on purpose."""


class SourceError(HoneyguardError):
    """An error about the content of a file, located by file, line and key."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(SourceError):
    """A settings file is missing, malformed or holds an invalid value."""


class ContentError(SourceError):
    """A detection rule, persona or other content file is invalid."""


class StoreError(HoneyguardError):
    """The state or event store failed."""


class AuthError(StoreError):
    """A sensor token, bouncer key or API key is missing or wrong."""


class ShipError(HoneyguardError):
    """A batch of events could not be delivered to the collector."""


class ServiceError(HoneyguardError):
    """A sensor listener could not start."""
