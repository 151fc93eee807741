"""The command registry: one ``@command("name")`` function per emulated command.

A command gets an Invocation (its arguments, its stdin, the shell's state) and writes its output
to ``inv.out`` / ``inv.err``; it returns the exit status. Commands are grouped by family in the
``commands_*`` modules, which register themselves on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from honeyguard.sensor.shell.interpreter import Shell


@dataclass
class Invocation:
    shell: Shell
    name: str
    args: list[str]
    stdin: str = ""
    line: str = ""  # the whole command line, for events
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.append(text + end)

    def error(self, text: str) -> None:
        self.err.append(text + "\n")

    def flags(self) -> tuple[set[str], list[str]]:
        """Short and long options apart from operands: '-la' -> {'l', 'a'}; '--all' -> {'-all'}."""
        opts: set[str] = set()
        operands: list[str] = []
        for arg in self.args:
            if arg == "--":
                continue
            if arg.startswith("--"):
                opts.add(arg[1:])
            elif arg.startswith("-") and len(arg) > 1:
                opts.update(arg[1:])
            else:
                operands.append(arg)
        return opts, operands


Handler = Callable[[Invocation], int]

COMMANDS: dict[str, Handler] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = handler
        return handler

    return register


def load_commands() -> dict[str, Handler]:
    """Import every family of commands once, so that each registers itself."""
    from honeyguard.sensor.shell import (  # noqa: F401 - imported for their registrations
        commands_device,
        commands_files,
        commands_net,
        commands_probe,
        commands_shell,
        commands_system,
        commands_text,
    )

    return COMMANDS
