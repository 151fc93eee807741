"""Telnet personas: the device a telnet sensor pretends to be, from its first bytes to its shell.

A persona file (content/personas/*.yaml, ``service: telnet``) names the option negotiation the
real telnetd opens with (nmap and bots fingerprint it), the login dialogue of its ``login``
program, what a successful login prints, the shell's prompt and flavour (``bash`` or
``busybox``), and the fake system facts the emulated shell answers from.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from honeyguard.sensor.shell.facts import SystemFacts


class BusyBoxFacts(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What `busybox` with no arguments prints, and which applets it says it has."""

    version_line: str  # "BusyBox v1.24.1 (2019-04-18 15:10:17 CST) multi-call binary."
    applets: list[str] = []


class TelnetPersona(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="service",
                    tag="telnet"):
    id: str
    description: str = ""
    hostname: str | None = None  # None: the sensor's ssh.hostname setting
    negotiation: list[str]  # sent on connect, in order: "do echo", "will sga"...
    wait_for_replies: bool = False  # netkit telnetd waits for answers to its DOs before the banner
    after_replies: list[str] = []  # sent once those answers came (or the client sent data instead)
    banner: str = "\r\n"  # before the first login prompt (/etc/issue.net); {hostname} is filled in
    login_prompt: str = "{hostname} login: "
    password_prompt: str = "Password: "
    login_failed: str = "Login incorrect\r\n"  # after the newline that ends the password
    max_attempts: int = 3  # login(1) gives up after this many failures and telnetd hangs up
    motd: str = ""  # after a successful login; {hostname}, {kernel_release}, {machine}, {last_login}
    prompt: str | None = None  # "{user}@{hostname}:{cwd}{sign} " style; None: bash's default
    logout: str = ""  # what the shell prints on exit ("logout\r\n" for bash)
    shell: Literal["bash", "busybox"] = "bash"
    busybox: BusyBoxFacts | None = None
    system: SystemFacts
    source: str = ""  # the file it was loaded from (set by the loader)
