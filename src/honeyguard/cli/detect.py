"""``honeyguard detect``: label requests offline with the sensor's engine.

``--input FILE.jsonl``: one JSON object a line, ``{"id", "protocol", "dst_port", "request_b64"}``
(the raw bytes a client sent); one line out per line in, ``{"id", "rules", "cves",
"techniques", "iocs"}``. Raw HTTP bytes are split by ``detect.httpsplit`` (a small tolerant
splitter; the sensor's incremental parser does the same job on live connections).
``--replay``: the stored events relabelled with the current rules and written back to the event
store (which a running collector holds: stop it first), printed in the same output format.
"""

from __future__ import annotations

import base64
import binascii
import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.detect import Ruleset
from honeyguard.detect.engine import Backend
from honeyguard.detect.labeler import Result, RuleLabeler
from honeyguard.errors import HoneyguardError, StoreError
from honeyguard.model import Event, Ioc, decode_event

PROGRESS_MIN_BYTES = 1 << 20  # a progress bar for inputs of 1 MiB and more
BATCH = 256  # requests labelled together
REPLAY_PAGE = 1000  # stored events relabelled, and written back, together
_err = Console(stderr=True)


class InputLine(msgspec.Struct, kw_only=True):
    id: str
    request_b64: str
    protocol: str = "http"
    dst_port: int = 0


class OutputLine(msgspec.Struct, kw_only=True):
    id: str
    rules: tuple[str, ...]
    cves: tuple[str, ...]
    techniques: tuple[str, ...]
    iocs: tuple[Ioc, ...]


_decoder = msgspec.json.Decoder(InputLine)
_encoder = msgspec.json.Encoder()


def decode_request(line: InputLine) -> bytes:
    try:
        return base64.b64decode(line.request_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("request_b64 is not base64") from None


def output_line(item_id: str, result: Result) -> bytes:
    return _encoder.encode(OutputLine(id=item_id, rules=result.rules, cves=result.cves,
                                      techniques=result.techniques, iocs=result.iocs)) + b"\n"


def classify_lines(lines: Iterator[bytes], labeler: RuleLabeler, out: BinaryIO,
                   on_bad: Callable[[int, str], None] | None = None) -> tuple[int, int]:
    """Label every line; a bad line is reported through ``on_bad(number, reason)`` and skipped.

    Lines are labelled in batches of BATCH (the engine is faster stage by stage over a batch);
    output keeps the input order."""
    done = bad = 0
    ids: list[str] = []
    requests: list[tuple[bytes, str]] = []

    def flush() -> None:
        for item_id, result in zip(ids, labeler.classify_raw_many(requests), strict=True):
            out.write(output_line(item_id, result))
        ids.clear()
        requests.clear()

    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = _decoder.decode(raw)
            request = decode_request(item)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            bad += 1
            if on_bad is not None:
                on_bad(number, str(exc))
            continue
        ids.append(item.id)
        requests.append((request, item.protocol))
        done += 1
        if len(requests) >= BATCH:
            flush()
    flush()
    return done, bad


def _lines_with_progress(stream: BinaryIO, size: int, progress: Progress | None) -> Iterator[bytes]:
    task = progress.add_task("detect", total=size) if progress is not None else None
    for raw in stream:
        if progress is not None and task is not None:
            progress.advance(task, len(raw))
        yield raw


def detect(
    input: Annotated[Path | None, typer.Option("--input", "-i", help="JSON lines of raw requests ('-' for stdin).",
                                                show_default=False)] = None,
    replay: Annotated[bool, typer.Option("--replay", help="Relabel the events in the event store.")] = False,
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Extra rule files or folders.",
                                                      show_default=False)] = None,
    builtin: Annotated[bool, typer.Option("--builtin/--no-builtin",
                                          help="Include the built-in rules (content/rules).")] = True,
    engine: Annotated[str, typer.Option(help="auto, hyperscan or re.")] = "auto",
    config: ConfigOption = None,
) -> None:
    """Label requests with rules, CVEs, ATT&CK techniques and IOCs: one JSON line out per line in."""
    if (input is None) == (not replay):
        raise HoneyguardError("give exactly one of --input FILE or --replay")
    if engine not in ("auto", "hyperscan", "re"):
        raise HoneyguardError(f"unknown engine {engine!r}: auto, hyperscan or re")
    settings = settings_from(config)
    ruleset = Ruleset.load([Path(d) for d in settings.detect.rule_dirs] + list(rules or []), builtin=builtin)
    labeler = RuleLabeler(ruleset.engine(_backend(engine)))
    # the rules and the engine's tables live until exit: out of the collector's full passes,
    # which otherwise walk them again and again while requests are labelled (~3% of the time)
    gc.freeze()
    out = sys.stdout.buffer
    if replay:
        _replay(settings.path(settings.server.events_db), labeler, out)
        return

    def report(number: int, reason: str) -> None:
        _err.print(f"[yellow]line {number} skipped:[/] {reason}", highlight=False, soft_wrap=True)

    assert input is not None
    if str(input) == "-":
        done, bad = classify_lines(iter(sys.stdin.buffer), labeler, out, report)
    else:
        try:
            size = input.stat().st_size
            stream = input.open("rb")
        except OSError as exc:
            raise HoneyguardError(f"{input}: cannot read: {exc.strerror or exc}") from None
        show = size >= PROGRESS_MIN_BYTES
        columns = (TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
        with stream, Progress(*columns, console=_err, disable=not show, transient=True) as progress:
            done, bad = classify_lines(_lines_with_progress(stream, size, progress), labeler, out, report)
    out.flush()
    if bad:
        _err.print(f"{done} labelled, {bad} bad lines skipped", highlight=False)


def _backend(name: str) -> Backend:
    return "hyperscan" if name == "hyperscan" else "re" if name == "re" else "auto"


def _replay(db_path: Path, labeler: RuleLabeler, out: BinaryIO) -> None:
    """Relabel every stored event with the current rules, write the labels back, print them."""
    from honeyguard.store.events import EventQuery, EventStore

    if not db_path.exists():
        raise HoneyguardError(f"no event store at {db_path}")
    try:
        store = EventStore(db_path)
    except StoreError as exc:
        if "lock" in str(exc).lower():  # DuckDB: one process holds the file for writing
            raise HoneyguardError(f"{db_path} is held by a running collector: stop the collector first, "
                                  "or relabel through its API") from None
        raise
    try:
        after: str | None = None
        while True:
            page = store.query(EventQuery(after=after, limit=REPLAY_PAGE))
            changed = []
            for raw in page.raws:
                stored = decode_event(raw)
                event = labeler.label(msgspec.structs.replace(stored, rules=[], cves=[], techniques=[], iocs=[]))
                if _labels(event) != _labels(stored):
                    changed.append(event)
                out.write(output_line(event.id, Result(rules=tuple(event.rules), cves=tuple(event.cves),
                                                       techniques=tuple(event.techniques),
                                                       iocs=tuple(event.iocs))))
            store.update_labels(changed)
            if page.next is None:
                break
            after = page.next
    finally:
        store.close()


def _labels(event: Event) -> tuple[object, ...]:
    return event.rules, event.cves, event.techniques, event.iocs


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
