"""What the long-running commands share: logging, uvloop, the ready file, the "listening" table."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

T = TypeVar("T")

ReadyFileOption = Annotated[
    Path | None,
    typer.Option("--ready-file", hidden=True, help="Written once listening (used by `honeyguard up`)."),
]

console = Console()


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "asyncssh", "alembic"):  # one line per request or connection otherwise
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (it is, except on Windows), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def write_ready(path: Path | None) -> None:
    if path is None:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(str(os.getpid()), encoding="utf-8")
    tmp.replace(path)  # atomic: the watcher never reads half a file


def listening_table(title: str, rows: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    table.add_column("listens on")
    table.add_column("detail")
    for row in rows:
        table.add_row(*row)
    return table
