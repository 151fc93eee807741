"""Load YAML into typed msgspec records, with errors that name the file, line and key.

Used for settings, rules, personas and every other content file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from honeyguard.errors import SourceError

T = TypeVar("T")

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_RE = re.compile(r"unknown field `([^`]+)`")
_STEP_RE = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def load_yaml_file(path: Path, type_: type[T], *, error: type[SourceError]) -> T:
    """Read ``path`` and convert it to ``type_``; raise ``error`` located at the offending line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=str(path)) from None
    return load_yaml_text(text, type_, error=error, source=str(path))


def load_yaml_text(text: str, type_: type[T], *, error: type[SourceError], source: str = "<input>") -> T:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(f"invalid YAML: {exc.problem or exc}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=source) from None
    return convert_located(data, node, type_, error=error, source=source)


def convert_located(data: Any, node: yaml.Node | None, type_: type[T], *, error: type[SourceError],
                    source: str, base_line: int = 0) -> T:
    """``msgspec.convert`` whose failures point at the YAML line of the bad value."""
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key, line = None, None
        found = _PATH_RE.search(message)
        if found:
            message = message[: found.start()]
            steps = _parse_path(found.group(1))
            unknown = _UNKNOWN_RE.search(message)
            if unknown:  # point at the unknown key itself, not at its parent
                steps.append(unknown.group(1))
            key = _render_key(steps)
            line = _line_of(node, steps)
        if line is not None:
            line += base_line
        raise error(_humanize(message), file=source, line=line, key=key) from None


def _parse_path(path: str) -> list[str | int]:
    return [int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _STEP_RE.finditer(path)]


def _render_key(steps: list[str | int]) -> str | None:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or None


def _line_of(node: yaml.Node | None, steps: list[str | int]) -> int | None:
    """The 1-based line of the deepest node the path reaches."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for step in steps:
        child = _child(node, step)
        if child is None:
            break
        node = child
        best = node.start_mark.line + 1
    return best


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if getattr(key, "value", None) == step:
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]  # type: ignore[no-any-return]
    return None


def _humanize(message: str) -> str:
    return message.replace("Object contains unknown field", "unknown key").replace("`", "'")
