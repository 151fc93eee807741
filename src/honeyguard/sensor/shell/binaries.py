"""The installed programs of the fake filesystem: /bin and /usr/bin entries that run emulated commands.

Each entry is a file whose ``program`` names the emulated command it runs, so ``/usr/bin/wget``,
``/bin/busybox wget`` or a ``cp /bin/busybox /tmp/b; /tmp/b wget`` reach the emulator, while a file
the attacker wrote over it is just bytes again. The bytes start with an ELF header for the
persona's architecture: Mirai reads 52 bytes of ``/bin/echo`` (``dd bs=52 count=1``) to choose
which build to drop, so the header's class, byte order and e_machine must agree with ``uname -m``.
"""

from __future__ import annotations

import contextlib
import struct

from honeyguard.sensor.shell.facts import SystemFacts
from honeyguard.sensor.shell.fs import FakeFs, FsError

IMAGE_SIZE = 512  # bytes stored per program: enough for any header read; the rest is not emulated
SBIN = frozenset({"ifconfig", "iptables", "reboot", "shutdown", "useradd", "service", "route", "init",
                  "udhcpc", "halt", "poweroff", "ip"})
_GNU_FOLDERS = ("/usr/bin", "/bin")  # merged /usr: /bin/X is /usr/bin/X
_PROGRAM_FOLDERS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin")

# uname -m prefix -> (ELF class: 1 = 32-bit / 2 = 64-bit, e_machine, e_flags, entry point, default order)
# Every value is chosen so that the header's bytes stay below 0x80 and avoid CR/LF: it survives the
# text path to a terminal (a telnet client reading `cat /bin/echo`) byte for byte.
_ARCH: tuple[tuple[str, tuple[int, int, int, int, str]], ...] = (
    ("x86_64", (2, 62, 0, 0x00004F30, "little")),
    ("aarch64", (2, 183, 0, 0x00405A20, "little")),  # EM_AARCH64 is 0xB7: the one byte above 0x7F
    ("mips64", (2, 8, 0x00000007, 0x00012340, "big")),
    ("mips", (1, 8, 0x70001007, 0x00400260, "big")),
    ("arm", (1, 40, 0x05000200, 0x00010368, "little")),
    ("i", (1, 3, 0, 0x08050320, "little")),
    ("sh4", (1, 42, 0x00000009, 0x00400260, "little")),
    ("ppc", (1, 20, 0, 0x10000240, "big")),
)


def elf_header(machine: str, byte_order: str = "") -> bytes:
    """The ELF file header of an executable for ``uname -m`` = machine (52 or 64 bytes)."""
    elf_class, e_machine, flags, entry, default_order = next(
        (spec for prefix, spec in _ARCH if machine.startswith(prefix)), _ARCH[0][1])
    order = byte_order or default_order
    fmt = "<" if order == "little" else ">"
    ident = b"\x7fELF" + bytes((elf_class, 1 if order == "little" else 2, 1, 0)) + b"\x00" * 8
    if elf_class == 1:
        return ident + struct.pack(fmt + "HHIIIIIHHHHHH", 2, e_machine, 1, entry, 52, 0x00017D54, flags,
                                   52, 32, 7, 40, 27, 26)
    return ident + struct.pack(fmt + "HHIQQQIHHHHHH", 3, e_machine, 1, entry, 64, 0x00023F58, flags,
                               64, 56, 11, 64, 31, 30)


def program_image(facts: SystemFacts) -> bytes:
    return elf_header(facts.machine, facts.byte_order).ljust(IMAGE_SIZE, b"\x00")


def install_gnu(fs: FakeFs, names: list[str], image: bytes) -> None:
    """A Debian/Ubuntu layout: every command in /usr/bin (or /usr/sbin) and, merged, in /bin (/sbin)."""
    if fs.get("/usr/bin/ls") is not None:
        return  # this filesystem has them already (a second channel of the same connection)
    for name in names:
        if not _installable(name):
            continue
        for folder in _GNU_FOLDERS:
            _install(fs, f"{folder.replace('bin', 'sbin')}/{name}" if name in SBIN else f"{folder}/{name}",
                     image, name)


def install_busybox(fs: FakeFs, applets: list[str], image: bytes) -> None:
    """A router layout: /bin/busybox, and every applet a link to it in /bin or /sbin (no GNU programs)."""
    for folder in _PROGRAM_FOLDERS:
        for name in fs.listdir(folder) if fs.is_dir(folder) else []:
            path = f"{folder}/{name}"
            node = fs.get(path)
            if node is not None and node.program is not None:
                fs.max_bytes -= len(node.data)
                fs.remove(path)
    _install(fs, "/bin/busybox", image, "busybox")
    for name in applets:
        if _installable(name):
            _install(fs, f"{'/sbin' if name in SBIN else '/bin'}/{name}", image, name)


def _install(fs: FakeFs, path: str, image: bytes, program: str) -> None:
    with contextlib.suppress(FsError):
        fs.max_bytes += len(image)  # the system's own programs do not use the attacker's byte budget
        fs.write(path, image, mode=0o755, program=program)


def _installable(name: str) -> bool:
    return name.replace("-", "").replace("_", "").replace(".", "").isalnum() and not name.startswith(".")
