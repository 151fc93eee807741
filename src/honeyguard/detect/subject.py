"""A ``Subject``: one thing to classify, as a mapping from field name to (bounded) bytes.

Each field is cut to a fixed length before matching (``FIELD_LIMITS``): Hyperscan is linear in
the input anyway, and the bound keeps the pure-``re`` fallback's worst case (a regex that
backtracks polynomially) small and known.
"""

from __future__ import annotations

#: The most bytes of each field a rule sees; the rest of a longer value is not matched.
FIELD_LIMITS: dict[str, int] = {
    "method": 64,
    "target": 16384,
    "url": 16384,
    "path": 16384,
    "query": 16384,
    "header": 16384,
    "header.*": 32768,
    "headers": 32768,
    "body": 65536,
    "request": 131072,
    "raw": 65536,
    "command": 16384,
    "username": 1024,
    "password": 1024,
    "args": 65536,
}


def field_limit(name: str) -> int:
    return FIELD_LIMITS["header"] if name.startswith("header.") and name != "header.*" else FIELD_LIMITS[name]


def cut(name: str, value: bytes) -> bytes:
    limit = FIELD_LIMITS.get(name) or field_limit(name)
    return value if len(value) <= limit else value[:limit]


class Subject:
    """One thing to classify: its protocol ('http', 'ssh', 'redis', 'other') and its fields.

    ``fields`` is every field; ``field(name)`` one of them (b"" when absent). The HTTP subject
    (httpsubject.py) builds its fields lazily, so the engine only pays for the ones it reads.
    """

    __slots__ = ("_fields", "_header_values", "_host", "_texts", "protocol")

    def __init__(
        self,
        protocol: str,
        fields: dict[str, bytes],
        host: bytes = b"",
        texts: tuple[bytes, ...] = (),
        header_values: tuple[bytes, ...] = (),
    ) -> None:
        self.protocol = protocol
        self._fields = fields
        self._host = host  # the Host the client asked for: never an IOC of its own
        self._texts = texts  # payload parts for IOC extraction
        self._header_values = header_values  # searched for IOCs when they carry code

    @property
    def fields(self) -> dict[str, bytes]:
        return self._fields

    def field(self, name: str) -> bytes:
        return self._fields.get(name, b"")

    @property
    def host(self) -> bytes:
        return self._host

    @property
    def texts(self) -> tuple[bytes, ...]:
        return self._texts

    @property
    def header_values(self) -> tuple[bytes, ...]:
        return self._header_values

    def prefilter_view(self, check_folds: bool = True) -> bytes | None:
        """Bytes holding every factor any field holds (prefilter.py), or None when unknown.
        ``check_folds`` False: folded header lines are not looked for (the view is then exact
        only when ``head_folded`` is False; the prefilter asks it when the view holds a fold)."""
        return None

    def head_folded(self) -> bool:
        """Whether the head holds folded lines (a value continued on the next line)."""
        return False
