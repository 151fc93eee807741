"""Redis personas: the Redis build a sensor pretends to be.

A persona file (content/personas/*.yaml, ``service: redis``) names the version (which also picks
the wording of errors that changed between 5, 6 and 7), what INFO says about the host, whether a
password is configured (``auth: none``: AUTH is an error, everything is open; ``auth: any``:
commands need AUTH first and any password is taken), the CONFIG values, and keys to show.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class RedisPersona(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="service", tag="redis"):
    id: str
    description: str = ""
    version: str  # "7.0.15"
    os: str = "Linux 5.15.0-91-generic x86_64"  # INFO's os: line (uname -s -r -m)
    gcc_version: str = "11.4.0"
    build_id: str = "0"  # redis_build_id
    process_id: int = 1123
    uptime_seconds: int = 1_900_000  # how long the server had been up when the sensor started
    executable: str = "/usr/bin/redis-server"
    config_file: str = "/etc/redis/redis.conf"
    used_memory: int = 1_048_576  # bytes INFO reports before any key is set
    auth: Literal["none", "any"] = "none"
    config: dict[str, str] = {}  # CONFIG GET values beyond (or instead of) the built-in defaults
    keys: dict[str, str] = {}  # string keys in db0 at the start of every connection
    source: str = ""  # the file it was loaded from (set by the loader)

    @property
    def major_minor(self) -> tuple[int, int]:
        parts = [int(p) if p.isdigit() else 0 for p in self.version.split(".")[:2]] + [0, 0]
        return parts[0], parts[1]
