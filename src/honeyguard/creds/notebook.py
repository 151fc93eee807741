"""Jupyter notebooks: scan each cell's source and outputs on their own, so a finding names the cell
and the line within it (what a reader sees), not a line of the JSON file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from honeyguard.creds.finding import Origin


def notebook_parts(data: bytes, file: str) -> Iterator[tuple[Origin, bytes]] | None:
    """(origin, text) for every cell source and output; None if ``data`` is not a notebook."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        return None
    return _parts(document["cells"], file)


def _parts(cells: list[Any], file: str) -> Iterator[tuple[Origin, bytes]]:
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        source = _text(cell.get("source"))
        if source:
            yield Origin(file=file, cell=number, cell_part="source"), source.encode()
        outputs = cell.get("outputs")
        if isinstance(outputs, list):
            text = "\n".join(_output_text(o) for o in outputs if isinstance(o, dict))
            if text.strip():
                yield Origin(file=file, cell=number, cell_part="output"), text.encode()


def _text(value: Any) -> str:
    """nbformat stores text as a string or a list of lines (each keeping its newline)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""


def _output_text(output: dict[str, Any]) -> str:
    parts = [_text(output.get("text")), _text(output.get("evalue"))]
    traceback = output.get("traceback")
    if isinstance(traceback, list):
        parts.append("\n".join(t for t in traceback if isinstance(t, str)))
    data = output.get("data")
    if isinstance(data, dict):
        for mime, value in data.items():
            if mime.startswith(("text/", "application/json", "application/javascript")):
                parts.append(value if isinstance(value, str) else _text(value)
                             if isinstance(value, list) else msgspec.json.encode(value).decode())
    return "\n".join(p for p in parts if p)
