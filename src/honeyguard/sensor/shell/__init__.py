"""An emulated POSIX shell for the SSH sensor: it parses and answers, it never executes.

Nothing here runs a process, evaluates input or touches the real filesystem: every command is
a Python function over a per-session in-memory filesystem and the persona's fake system facts.
"""

from honeyguard.sensor.shell.facts import SystemFacts
from honeyguard.sensor.shell.interpreter import CommandResult, Shell, ShellEvents

__all__ = ["CommandResult", "Shell", "ShellEvents", "SystemFacts"]
