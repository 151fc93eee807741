"""System facts: uname, id, whoami, w, uptime, free, nproc, hostname, ps, lscpu, df."""

from __future__ import annotations

from honeyguard.sensor.shell.registry import Invocation, command

_UNAME_FIELDS = {  # flag -> which fact, in the order `uname -a` prints them
    "s": "kernel_name", "n": "hostname", "r": "kernel_release", "v": "kernel_version", "m": "machine",
    "p": "machine", "i": "machine", "o": "os",
}
_LONG = {"-all": "a", "-kernel-name": "s", "-nodename": "n", "-kernel-release": "r", "-kernel-version": "v",
         "-machine": "m", "-processor": "p", "-hardware-platform": "i", "-operating-system": "o"}


@command("uname")
def uname(inv: Invocation) -> int:
    opts, operands = inv.flags()
    opts = {_LONG.get(o, o) for o in opts}
    if operands or opts - set("asnrvmpio"):
        bad = operands[0] if operands else sorted(opts - set("asnrvmpio"))[0]
        inv.error(f"uname: invalid option -- '{bad}'\nTry 'uname --help' for more information.")
        return 1
    facts = inv.shell.facts
    values = {"kernel_name": facts.kernel_name, "hostname": inv.shell.hostname,
              "kernel_release": facts.kernel_release, "kernel_version": facts.kernel_version,
              "machine": facts.machine, "os": "GNU/Linux"}
    order = "snrvmpio" if "a" in opts else ("".join(flag for flag in "snrvmpio" if flag in opts) or "s")
    inv.print(" ".join(values[_UNAME_FIELDS[flag]] for flag in order))
    return 0


def _ids(inv: Invocation) -> tuple[int, int]:
    for line in inv.shell.facts.passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == inv.shell.username and fields[2].isdigit() and fields[3].isdigit():
            return int(fields[2]), int(fields[3])
    return (0, 0) if inv.shell.username == "root" else (1000, 1000)


@command("id")
def id_(inv: Invocation) -> int:
    uid, gid = _ids(inv)
    name = inv.shell.username
    opts, _ = inv.flags()
    if "u" in opts:
        inv.print(name if "n" in opts else str(uid))
    elif "g" in opts:
        inv.print(name if "n" in opts else str(gid))
    else:
        inv.print(f"uid={uid}({name}) gid={gid}({name}) groups={gid}({name})")
    return 0


@command("whoami")
def whoami(inv: Invocation) -> int:
    inv.print(inv.shell.username)
    return 0


def _uptime_text(inv: Invocation) -> str:
    facts = inv.shell.facts
    now = inv.shell.now()
    days, rest = divmod(facts.uptime_seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    users = max(1, len(facts.logged_in))
    return (f" {now:%H:%M:%S} up {days} days, {hours:2d}:{minutes:02d},  {users} user"
            f"{'s' if users > 1 else ''},  load average: {facts.load_average}")


@command("uptime")
def uptime(inv: Invocation) -> int:
    inv.print(_uptime_text(inv))
    return 0


@command("w")
def w(inv: Invocation) -> int:
    inv.print(_uptime_text(inv))
    inv.print("USER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT")
    for line in inv.shell.facts.logged_in:
        inv.print(line)
    now = inv.shell.now()
    inv.print(f"{inv.shell.username:<8} pts/0    {inv.shell.client_ip:<16} {now:%H:%M}    0.00s  0.02s  0.00s w")
    return 0


@command("free")
def free(inv: Invocation) -> int:
    facts = inv.shell.facts
    opts, _ = inv.flags()
    divisor, unit = 1, ""
    if "m" in opts:
        divisor = 1024
    elif "g" in opts:
        divisor = 1024 * 1024
    total, free_kb, avail = facts.mem_total_kb, facts.mem_free_kb, facts.mem_available_kb
    cache = total // 4
    used = max(0, total - free_kb - cache)
    shared = 1160

    def n(value: int) -> str:
        return f"{value // divisor}{unit}"

    if "h" in opts:
        def n(value: int) -> str:
            return f"{value / 1048576:.1f}Gi" if value >= 1048576 else f"{value // 1024}Mi"

    inv.print("               total        used        free      shared  buff/cache   available")
    inv.print(f"Mem:    {n(total):>12}{n(used):>12}{n(free_kb):>12}{n(shared):>12}{n(cache):>12}{n(avail):>12}")
    swap = facts.swap_total_kb
    inv.print(f"Swap:   {n(swap):>12}{n(0):>12}{n(swap):>12}")
    return 0


@command("nproc")
def nproc(inv: Invocation) -> int:
    inv.print(str(inv.shell.facts.cpu_count))
    return 0


@command("hostname")
def hostname(inv: Invocation) -> int:
    opts, operands = inv.flags()
    if operands:
        inv.error("hostname: you must be root to change the host name" if inv.shell.username != "root"
                  else "hostname: the specified hostname is invalid")
        return 1
    inv.print("127.0.1.1" if "i" in opts else inv.shell.hostname)
    return 0


@command("ps")
def ps(inv: Invocation) -> int:
    processes = inv.shell.facts.processes
    if inv.shell.flavour == "busybox":  # BusyBox ps: one format, every process, whatever the options
        inv.print("  PID USER       VSZ STAT COMMAND")
        for p in processes:
            inv.print(f"{p.pid:>5} {p.user:<8} {p.vsz:>6} {p.stat:<4} {p.command}")
        inv.print(f"{inv.shell.pid:>5} {inv.shell.username:<8}   1520 S    -sh")
        inv.print(f"{inv.shell.pid + 31:>5} {inv.shell.username:<8}   1516 R    ps {' '.join(inv.args)}".rstrip())
        return 0
    full = any(arg.lstrip("-") in ("aux", "ef", "ax", "a", "e", "efww", "auxww", "auxf") for arg in inv.args)
    if not full:
        inv.print("    PID TTY          TIME CMD")
        inv.print(f"{inv.shell.pid:>7} pts/0    00:00:00 bash")
        inv.print(f"{inv.shell.pid + 31:>7} pts/0    00:00:00 ps")
        return 0
    inv.print("USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND")
    for p in processes:
        inv.print(f"{p.user:<10}{p.pid:>5} {p.cpu:4.1f} {p.mem:4.1f} {p.vsz:>6} {p.rss:>5} {p.tty:<8} "
                  f"{p.stat:<4} {p.start:>5} {p.time:>6} {p.command}")
    user = inv.shell.username
    inv.print(f"{user:<10}{inv.shell.pid:>5}  0.0  0.1   8964  5400 pts/0    Ss   {inv.shell.now():%H:%M}   "
              "0:00 -bash")
    inv.print(f"{user:<10}{inv.shell.pid + 31:>5}  0.0  0.0  10072  3380 pts/0    R+   "
              f"{inv.shell.now():%H:%M}   0:00 ps {' '.join(inv.args)}")
    return 0


@command("ifconfig")
def ifconfig(inv: Invocation) -> int:
    facts = inv.shell.facts
    inv.print("eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 9001")
    inv.print(f"        inet {facts.ip_address}  netmask 255.255.255.0  broadcast {_broadcast(facts.ip_address)}")
    inv.print(f"        ether {facts.mac_address}  txqueuelen 1000  (Ethernet)")
    inv.print("        RX packets 48203311  bytes 19304822117 (19.3 GB)")
    inv.print("        TX packets 40129933  bytes 31422871093 (31.4 GB)\n")
    inv.print("lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536")
    inv.print("        inet 127.0.0.1  netmask 255.0.0.0")
    inv.print("        loop  txqueuelen 1000  (Local Loopback)\n")
    return 0


@command("ip")
def ip(inv: Invocation) -> int:
    if not inv.args or inv.args[0] not in ("a", "addr", "address", "-4", "-br"):
        inv.error('Object "' + (inv.args[0] if inv.args else "") + '" is unknown, try "ip help".')
        return 1
    facts = inv.shell.facts
    inv.print("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000")
    inv.print("    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00")
    inv.print("    inet 127.0.0.1/8 scope host lo")
    inv.print("2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP group default qlen 1000")
    inv.print(f"    link/ether {facts.mac_address} brd ff:ff:ff:ff:ff:ff")
    inv.print(f"    inet {facts.ip_address}/24 brd {_broadcast(facts.ip_address)} scope global dynamic eth0")
    return 0


def _broadcast(address: str) -> str:
    return ".".join([*address.split(".")[:3], "255"])


@command("lscpu")
def lscpu(inv: Invocation) -> int:
    facts = inv.shell.facts
    inv.print(f"Architecture:            {facts.machine}")
    inv.print("  CPU op-mode(s):        32-bit, 64-bit")
    inv.print(f"CPU(s):                  {facts.cpu_count}")
    inv.print(f"Vendor ID:               {facts.cpu_vendor}")
    inv.print(f"  Model name:            {facts.cpu_model}")
    inv.print(f"    CPU MHz:             {facts.cpu_mhz:.3f}")
    return 0


@command("df")
def df(inv: Invocation) -> int:
    inv.print("Filesystem     1K-blocks    Used Available Use% Mounted on")
    inv.print("/dev/sda1       40581564 6151264  34413916  16% /")
    inv.print(f"tmpfs            {inv.shell.facts.mem_total_kb // 2:>7}       0  "
              f"{inv.shell.facts.mem_total_kb // 2:>8}   0% /dev/shm")
    return 0
