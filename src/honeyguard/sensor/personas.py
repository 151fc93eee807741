"""Load personas: the products sensors pretend to be, one YAML file each, for every service.

A persona file names its service (``service: http``, ``service: ssh``...); each service has its
own typed record, registered in PERSONA_TYPES. Files of a service with no registered type are
skipped, so content for a service can land before its code. Later folders override earlier ones
by id (a user's folder can restyle a built-in persona); within one folder an id must be unique.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from honeyguard.errors import ContentError, HoneyguardError, ServiceError
from honeyguard.sensor.http.persona import HttpPersona
from honeyguard.sensor.redisd.persona import RedisPersona
from honeyguard.sensor.sshd.persona import SshPersona
from honeyguard.sensor.telnetd.persona import TelnetPersona
from honeyguard.yamlfile import load_yaml_file

log = logging.getLogger(__name__)

P = TypeVar("P")

#: The typed record of each service's personas (tagged on ``service``). Each record has ``id`` and
#: ``source`` (set here to the file it came from, so it can find files beside it).
#: A new service adds its record here and to ``Persona``.
PERSONA_TYPES: dict[str, type[Any]] = {
    "http": HttpPersona,
    "ssh": SshPersona,
    "telnet": TelnetPersona,
    "redis": RedisPersona,
}

Persona = HttpPersona | SshPersona | TelnetPersona | RedisPersona

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "content" / "personas"


class _Header(msgspec.Struct):
    """Just enough of a persona file to know which record to read it into."""

    service: str
    id: str


def persona_dirs(extra: Iterable[Path | str] = ()) -> list[Path]:
    """The built-in personas folder, then the user's folders."""
    return [BUILTIN_DIR, *(Path(p) for p in extra)]


def load_personas(dirs: Iterable[Path | str], *, service: str | None = None) -> dict[str, Any]:
    """Every persona in ``dirs`` (``*.yaml``/``*.yml``), by id; only ``service``'s when given."""
    found: dict[str, Any] = {}
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise ContentError("personas folder does not exist", file=str(folder))
        seen_here: set[str] = set()
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            persona = load_persona_file(path, service=service)
            if persona is None:
                continue
            if persona.id in seen_here:
                raise ContentError(f"persona id {persona.id!r} is defined twice in this folder",
                                   file=str(path), key="id")
            seen_here.add(persona.id)
            found[persona.id] = persona
    return found


def load_persona_file(path: Path, *, service: str | None = None) -> Any | None:
    """One persona file as its service's record; None when it is for another or unknown service."""
    header = load_yaml_file(path, _Header, error=ContentError)
    if service is not None and header.service != service:
        return None
    record_type = PERSONA_TYPES.get(header.service)
    if record_type is None:
        log.debug("skipping %s: no persona type for service %r", path, header.service)
        return None
    persona = load_yaml_file(path, record_type, error=ContentError)
    persona.source = str(path)
    return persona


def yaml_line(path: Path, *steps: str | int) -> int | None:
    """The 1-based line of a key in a YAML file, for errors found after loading."""
    try:
        node: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for step in steps:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def find_persona(kind: type[P], persona_id: str, extra_dirs: Iterable[Path | str] = ()) -> P:
    """The persona ``persona_id`` of ``kind``'s service, from the built-in and the user's folders.

    A listener naming a persona that does not exist (or belongs to another service) is a
    configuration mistake: ServiceError, listing the personas that would have been valid.
    """
    service = next(name for name, record in PERSONA_TYPES.items() if record is kind)
    try:
        personas = load_personas(persona_dirs(extra_dirs), service=service)
    except HoneyguardError as exc:
        raise ServiceError(f"{service} listener: personas cannot be loaded: {exc}") from None
    persona = personas.get(persona_id)
    if not isinstance(persona, kind):
        known = ", ".join(sorted(personas)) or "none"
        raise ServiceError(f"{service} listener: unknown persona {persona_id!r} ({service} personas: {known})")
    return persona
