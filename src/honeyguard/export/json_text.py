"""JSON exactly as ``json.dumps(obj, indent=1, sort_keys=True)`` writes it, but faster, and a
document whose one big array is written item by item.

The standard library drops to its pure-Python encoder whenever ``indent`` is given (a generator
step per token); here a list or dict is one ``str.join`` and strings go through the same C
escaper (``ensure_ascii``), so the bytes are the same and large exports never hold the whole
document as objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

_PAD = [""] + ["\n" + " " * depth for depth in range(1, 32)]


def dumps(value: Any, depth: int = 0) -> str:
    """``value`` as indented JSON whose first line is at ``depth`` (indent 1, keys sorted)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return int.__repr__(value)
    inner = _PAD[depth + 1] if depth + 1 < len(_PAD) else "\n" + " " * (depth + 1)
    outer = inner[:-1]
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = (f"{encode_basestring_ascii(k)}: {dumps(v, depth + 1)}" for k, v in sorted(value.items()))
        return "{" + inner + ("," + inner).join(items) + outer + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(type(item) is str for item in value):  # the common long case: addresses, targets
            return "[" + inner + ("," + inner).join(map(encode_basestring_ascii, value)) + outer + "]"
        return "[" + inner + ("," + inner).join(dumps(item, depth + 1) for item in value) + outer + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_document(out: TextIO, head: Mapping[str, Any], key: str, items: Iterable[str]) -> None:
    """``head`` with ``key`` set to an array, written as ``dumps`` would, one item at a time;
    ``items`` are already written as JSON at depth 2 (``dumps(item, 2)``)."""
    out.write("{")
    for position, name in enumerate(sorted([*head, key])):
        out.write(("\n " if position == 0 else ",\n ") + encode_basestring_ascii(name) + ": ")
        if name != key:
            out.write(dumps(head[name], 1))
            continue
        parts = iter(items)
        first = next(parts, None)
        if first is None:
            out.write("[]")
            continue
        out.write("[\n  " + first)
        _write_items(out, parts)
        out.write("\n ]")
    out.write("\n}")


def _write_items(out: TextIO, items: Iterable[str], flush_at: int = 1 << 18) -> None:
    """Small items gathered into writes of about 256 KB; a large one (a 2 MB rule group) goes alone."""
    pending: list[str] = []
    size = 0
    for item in items:
        if len(item) >= flush_at:  # written as it is: joining it to the others would copy it once more
            pending.append(",\n  ")
            out.write("".join(pending))
            out.write(item)
            pending.clear()
            size = 0
            continue
        pending.append(",\n  ")
        pending.append(item)
        size += len(item)
        if size >= flush_at:
            out.write("".join(pending))
            pending.clear()
            size = 0
    out.write("".join(pending))
