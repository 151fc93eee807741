"""The BusyBox flavour of the emulated shell, for embedded-device personas.

Same interpreter and commands as the SSH shell (sensor/shell); what differs is what ash and
BusyBox print: ``-sh: enable: not found``, the ``busybox`` banner and applet list of the persona,
``X: applet not found`` for an applet the build lacks (the reply Mirai-family bots probe for
with ``/bin/busybox ECCHI``), and ``/bin/busybox APPLET`` running the applet. The table of
commands is per shell, so nothing changes for other services.
"""

from __future__ import annotations

import textwrap
from urllib.parse import urlsplit

from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.binaries import install_busybox, program_image
from honeyguard.sensor.shell.commands_net import tftp_style, wget_quiet, wget_targets
from honeyguard.sensor.shell.registry import Handler, Invocation
from honeyguard.sensor.telnetd.persona import BusyBoxFacts

_COPYRIGHT = ("BusyBox is copyrighted by many authors between 1998-2015.\n"
              "Licensed under GPLv2. See source distribution for detailed\ncopyright notices.\n\n"
              "Usage: busybox [function [arguments]...]\n   or: busybox --list\n"
              "   or: function [arguments]...\n\n"
              "\tBusyBox is a multi-call binary that combines many common Unix\n"
              "\tutilities into a single executable.  Most people will create a\n"
              "\tlink to busybox for each function they wish to use and BusyBox\n"
              "\twill act like whatever it was invoked as.\n\nCurrently defined functions:\n")

_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox")
# what ash runs itself: these answer whatever the applet list says
_ASH_BUILTINS = frozenset({".", ":", "[", "[[", "alias", "cd", "command", "echo", "exit", "export", "false",
                           "history", "kill", "printf", "pwd", "set", "source", "test", "trap", "true", "type",
                           "ulimit", "umask", "unalias", "unset", "wait", "logout"})


def busybox_handler(facts: BusyBoxFacts) -> Handler:
    applets = set(facts.applets)

    def busybox(inv: Invocation) -> int:
        if not inv.args or inv.args[0] in ("--help", "--list"):
            if inv.args[:1] == ["--list"]:
                for name in facts.applets:
                    inv.print(name)
                return 0
            listing = textwrap.fill(", ".join(facts.applets), width=78, initial_indent="\t",
                                    subsequent_indent="\t", break_on_hyphens=False)
            inv.print(f"{facts.version_line}\n{_COPYRIGHT}{listing}\n")
            return 0 if inv.args else 1
        applet = inv.args[0]
        handler = inv.shell.commands.get(applet)
        if applet not in applets or applet == "busybox":
            inv.error(f"{applet}: applet not found")
            return 127
        if handler is None:
            return 0  # an applet of this build we do not emulate: it ran and said nothing
        inner = Invocation(shell=inv.shell, name=applet, args=inv.args[1:], stdin=inv.stdin, line=inv.line,
                           out=inv.out, err=inv.err)
        return inv.shell.dispatch(inner)

    return busybox


def busybox_wget(gnu_wget: Handler) -> Handler:
    """BusyBox's wget: the same recorded, never-fetched download, told in BusyBox's words."""

    def wget(inv: Invocation) -> int:
        quiet = Invocation(shell=inv.shell, name=inv.name, args=["-q", *inv.args], stdin=inv.stdin,
                           line=inv.line, out=inv.out, err=[])
        status = gnu_wget(quiet)
        if wget_quiet(inv.args) or tftp_style(inv.args):
            inv.err += quiet.err
            return status
        for url, target in wget_targets(inv.args):
            try:
                parts = urlsplit(url)
                host, port = parts.hostname or url, parts.port or 80
            except ValueError:
                host, port = url, 80
            node = inv.shell.fs.get(inv.shell.path(target)) if target != "-" else None
            size = len(node.data) if node is not None and not node.is_dir else 0
            inv.error(f"Connecting to {host} ({host}:{port})")
            if target == "-":
                inv.error("writing to stdout")
            shown = target.rsplit("/", 1)[-1] or target
            inv.error(f"{shown[:20]:<20} 100% |{'*' * 31}| {size:>6}  0:00:00 ETA")
        inv.err += quiet.err
        return status

    return wget


def make_busybox(shell: Shell, facts: BusyBoxFacts) -> None:
    """Turn ``shell`` into BusyBox's ash: its error wording, its busybox, its /bin/sh."""
    shell.error_prefix = "-sh"
    shell.not_found = "not found"
    shell.segfault = "Segmentation fault"  # ash prints the signal; routers dump no core
    shell.flavour = "busybox"
    install_busybox(shell.fs, facts.applets, program_image(shell.facts))
    shell.silent_programs |= set(facts.applets)  # applets we do not emulate run and print nothing
    shell.env["SHELL"] = "/bin/sh"
    shell.env["PATH"] = "/bin:/sbin:/usr/bin:/usr/sbin"
    shell.env.pop("TERM", None)
    handler = busybox_handler(facts)
    # a copy: the registry is shared by every shell of the process. Only what this build has: a router
    # without curl answers `curl` with "not found", as the bot's `wget || curl` fallback expects
    present = set(facts.applets) | _ASH_BUILTINS | set(shell.facts.installed)
    commands = {name: handler for name, handler in shell.commands.items() if name in present}
    if "sh" in commands:
        commands.setdefault("ash", commands["sh"])
    for name in ("busybox", *_PATHS):
        commands[name] = handler
    if "wget" in commands:
        commands["wget"] = busybox_wget(commands["wget"])
    shell.commands = commands
