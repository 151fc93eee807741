"""Turn an ingest request body into Events: gzip or plain, NDJSON or one JSON array.

No HTTP here: errors are IngestError with the status the route should answer.
"""

from __future__ import annotations

import zlib
from typing import TypeAlias, cast

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib

from honeyguard.model import Event, canonical_uuids

_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # (its stub calls it an instance)

#: A compressed body may not expand past this (a gzip bomb is refused, not inflated).
MAX_DECODED_BYTES = 256 * 1024 * 1024

_event_decoder = msgspec.json.Decoder(Event)
_array_decoder = msgspec.json.Decoder(list[Event])

#: The plain-lines path decodes a body this many bytes (rounded up to a line) at a time. A C call
#: holds the GIL to its end, whatever the switch interval: one call over a 5,000-event body held
#: it about 15 ms, and the DuckDB writer, which takes the GIL some twenty times an insert, waited
#: that long each time while its core idled.
DECODE_SLICE_BYTES = 64 * 1024


#: Each event's JSON text as received (a string column, or lines), or None (a JSON array body).
Raws: TypeAlias = pa.Array | list[bytes] | None


class IngestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def inflate(body: bytes, content_encoding: str | None) -> bytes:
    """The request body without its Content-Encoding (gzip or none), capped in size."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise IngestError(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    # ISA-L's inflate: zlib's API and checks, measured 0.20 against 0.54 µs an event of a
    # shipper's batch (both without the GIL)
    inflater = isal_zlib.decompressobj(wbits=16 + isal_zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_DECODED_BYTES)
    except (_ISAL_ERROR, zlib.error) as exc:
        raise IngestError(400, f"body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise IngestError(413, f"decompressed body exceeds {MAX_DECODED_BYTES} bytes")
    if not inflater.eof:
        raise IngestError(400, "body is not valid gzip: truncated")
    return data


def decode_events(data: bytes) -> tuple[list[Event], Raws]:
    """Events from NDJSON (one per line, blank lines ignored) or from a JSON array, with each
    event's JSON text as received when the body is NDJSON (so the store need not encode it again)."""
    start = data.lstrip()[:1]
    if start == b"[":
        try:
            return _array_decoder.decode(data), None
        except (msgspec.DecodeError, ValueError) as exc:
            raise IngestError(400, f"invalid event array: {exc}") from None
    found = _decode_plain_lines(data)
    if found is not None:
        return found
    lines = [line for line in data.split(b"\n") if line]
    try:  # the fast path: every line is an event
        return [_event_decoder.decode(line) for line in lines], lines
    except (msgspec.DecodeError, ValueError):
        return _decode_lines_slowly(data.split(b"\n"))


def _decode_plain_lines(data: bytes) -> tuple[list[Event], pa.Array] | None:
    """The common body (what our shipper sends): one event a line, every line ``{...}``, at most a
    final newline. Decoded in one call, its lines cut into a column by Arrow: no Python object per
    line (measured the largest share of the decoding thread's hold on the GIL). None: another shape,
    or an error to report by line: the caller takes the line-by-line path."""
    size = len(data) - 1 if data.endswith(b"\n") else len(data)  # without the final newline (no copy)
    if not (data.startswith(b"{") and data.endswith(b"}", 0, size)):
        return None
    try:
        events = _decode_in_slices(data, size)
    except (msgspec.DecodeError, ValueError):
        return None
    # The body as one binary value over the request's own buffer, cut at each newline by Arrow;
    # valid UTF-8: msgspec checked every string, and JSON outside strings is ASCII.
    whole = pa.Array.from_buffers(
        pa.binary(), 1, [None, pa.array([0, size], pa.int32()).buffers()[1], pa.py_buffer(data)]
    )
    lines = pc.split_pattern(whole, b"\n").values
    # JSON never has a raw newline inside a string: when every line is "{...}" and there are as
    # many lines as events, each line is one whole event (a line holding two values, or a value
    # spread over lines, is named line by line instead). Checked on the column, in Arrow: two
    # counts over the body in Python measured half a microsecond an event.
    if len(events) != len(lines) or not _all_braced(lines):
        return None
    return events, lines.view(pa.string())


def _decode_in_slices(data: bytes, size: int) -> list[Event]:
    """``decode_lines`` over the body's first ``size`` bytes, cut at newlines every
    DECODE_SLICE_BYTES or so (a newline is a line boundary: JSON escapes it inside strings)."""
    view = memoryview(data)
    events: list[Event] = []
    start = 0
    while start < size:
        end = data.find(b"\n", start + DECODE_SLICE_BYTES, size)
        end = size if end < 0 else end
        events += _event_decoder.decode_lines(view[start:end])
        start = end + 1
    return events


def _all_braced(lines: pa.Array) -> bool:
    """Whether every value starts with "{" and ends with "}"."""
    braced = pc.and_(pc.starts_with(lines, "{"), pc.ends_with(lines, "}"))
    return bool(pc.all(braced).as_py())


def _decode_lines_slowly(lines: list[bytes]) -> tuple[list[Event], list[bytes]]:
    """Like the fast path, but names the first bad line (1-based) and skips whitespace-only lines."""
    events, kept = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(_event_decoder.decode(line))
        except (msgspec.DecodeError, ValueError) as exc:
            raise IngestError(400, f"line {number}: {exc}") from None
        kept.append(line.strip())
    return events, kept


def check_ids(events: list[Event]) -> None:
    """Every id must be a UUID in canonical text: the store keeps ids as UUIDs, finds duplicates
    by their range and reads them back canonical, so another spelling of one id could be stored
    twice, or fail the whole insert."""
    if canonical_uuids([event.id for event in events]):
        return
    for number, event in enumerate(events, start=1):
        if not canonical_uuids([event.id]):
            raise IngestError(400, f"event {number}: id {event.id!r} is not a UUID in canonical form "
                                   "(8-4-4-4-12 lower-case hex)")


def check_sensor(events: list[Event], sensor: str) -> None:
    """Every event must come from the sensor whose token sent it."""
    for number, event in enumerate(events, start=1):
        if event.sensor != sensor:
            raise IngestError(
                403, f"event {number} ({event.id}) claims sensor {event.sensor!r}, but the token belongs to {sensor!r}"
            )
