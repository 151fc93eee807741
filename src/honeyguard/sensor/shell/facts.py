"""The fake system an SSH persona describes: kernel, CPU, memory, users, processes, files.

These are typed records loaded from the persona YAML; the generated /proc and /etc files are
built from them so that ``uname``, ``cat /proc/cpuinfo`` and ``nproc`` always agree.
"""

from __future__ import annotations

import hashlib

import msgspec


def _fake_crypt(name: str) -> str:
    """A string shaped like a SHA-512 crypt hash (it hashes no password; it only has to look right)."""
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    digest = hashlib.sha512(name.encode()).digest() + hashlib.sha512(name.encode() + b"$").digest()
    text = "".join(alphabet[b % 64] for b in digest)
    return f"$6${text[:16]}${text[16:102]}"


class FakeProcess(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pid: int
    user: str = "root"
    command: str
    cpu: float = 0.0
    mem: float = 0.0
    vsz: int = 0
    rss: int = 0
    tty: str = "?"
    stat: str = "S"
    start: str = "Nov20"
    time: str = "0:00"


class SystemFacts(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kernel_name: str = "Linux"
    kernel_release: str  # uname -r
    kernel_version: str  # uname -v
    machine: str = "x86_64"
    byte_order: str = ""  # "little" / "big" for the ELF headers of /bin; "" is the usual one for `machine`
    os_release: str  # the text of /etc/os-release
    issue: str = ""  # /etc/issue
    cpu_model: str
    cpu_count: int = 2
    cpu_mhz: float = 2400.0
    cpu_vendor: str = "GenuineIntel"
    cpu_flags: str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx " \
        "fxsr sse sse2 ht syscall nx rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni " \
        "pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand " \
        "hypervisor lahf_lm abm 3dnowprefetch bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap"
    mem_total_kb: int
    mem_free_kb: int
    mem_available_kb: int
    swap_total_kb: int = 0
    uptime_seconds: int = 3_600_000
    load_average: str = "0.08, 0.03, 0.01"
    passwd: str  # the text of /etc/passwd
    group: str = "root:x:0:\n"
    logged_in: list[str] = []  # `w` lines after the header, as printed
    processes: list[FakeProcess] = []
    files: dict[str, str] = {}  # path -> content, added to the fake filesystem
    directories: list[str] = []  # extra (empty) directories
    installed: list[str] = []  # commands `which` finds beyond the built-in ones (emulated or not)
    home: str = "/root"
    ip_address: str = "10.0.2.15"  # what ifconfig / ip addr show for eth0
    mac_address: str = "02:42:0a:00:02:0f"

    def cpuinfo(self) -> str:
        if self.machine.startswith("mips"):
            return self._cpuinfo_mips()
        if self.machine.startswith(("arm", "aarch64")):
            return self._cpuinfo_arm()
        blocks = []
        for index in range(self.cpu_count):
            blocks.append(
                f"processor\t: {index}\nvendor_id\t: {self.cpu_vendor}\ncpu family\t: 6\nmodel\t\t: 85\n"
                f"model name\t: {self.cpu_model}\nstepping\t: 7\nmicrocode\t: 0xffffffff\n"
                f"cpu MHz\t\t: {self.cpu_mhz:.3f}\ncache size\t: 36608 KB\nphysical id\t: 0\n"
                f"siblings\t: {self.cpu_count}\ncore id\t\t: {index}\ncpu cores\t: {self.cpu_count}\n"
                f"apicid\t\t: {index}\ninitial apicid\t: {index}\nfpu\t\t: yes\nfpu_exception\t: yes\n"
                f"cpuid level\t: 13\nwp\t\t: yes\nflags\t\t: {self.cpu_flags}\n"
                f"bogomips\t: {self.cpu_mhz * 2:.2f}\nclflush size\t: 64\ncache_alignment\t: 64\n"
                "address sizes\t: 46 bits physical, 48 bits virtual\npower management:\n"
            )
        return "\n".join(blocks) + "\n"

    def _cpuinfo_mips(self) -> str:
        """A MIPS SoC's /proc/cpuinfo: one block per core, system type first (no x86 vendor/flags)."""
        blocks = [f"system type\t\t: {self.cpu_vendor or 'MediaTek MT7621 ver:1 eco:3'}\n"
                  f"machine\t\t\t: {self.cpu_vendor or 'Generic router'}\n"
                  f"processor\t\t: {index}\ncpu model\t\t: {self.cpu_model}\n"
                  f"BogoMIPS\t\t: {self.cpu_mhz * 2 / 3:.2f}\nwait instruction\t: yes\n"
                  "microsecond timers\t: yes\ntlb_entries\t\t: 32\nextra interrupt vector\t: yes\n"
                  "isa\t\t\t: mips1 mips2 mips32r1 mips32r2\nASEs implemented\t: mips16 dsp\n"
                  "shadow register sets\t: 1\nkscratch registers\t: 0\ncore\t\t\t: 0\n"
                  f"VCED exceptions\t\t: not available\nVCEI exceptions\t\t: not available\n"
                  for index in range(self.cpu_count)]
        return "\n".join(blocks) + "\n"

    def _cpuinfo_arm(self) -> str:
        """An ARM board's /proc/cpuinfo: processor blocks, then Hardware/Revision/Serial."""
        blocks = [f"processor\t: {index}\nmodel name\t: {self.cpu_model}\nBogoMIPS\t: {self.cpu_mhz / 20:.2f}\n"
                  "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm\n"
                  "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xc07\n"
                  "CPU revision\t: 5\n" for index in range(self.cpu_count)]
        return "\n".join(blocks) + f"\nHardware\t: {self.cpu_vendor or 'Generic DT based system'}\n" \
            "Revision\t: 0000\nSerial\t\t: 0000000000000000\n"

    def meminfo(self) -> str:
        rows = [
            ("MemTotal", self.mem_total_kb), ("MemFree", self.mem_free_kb),
            ("MemAvailable", self.mem_available_kb), ("Buffers", self.mem_total_kb // 50),
            ("Cached", self.mem_total_kb // 4), ("SwapCached", 0),
            ("Active", self.mem_total_kb // 5), ("Inactive", self.mem_total_kb // 6),
            ("SwapTotal", self.swap_total_kb), ("SwapFree", self.swap_total_kb),
            ("Dirty", 180), ("Writeback", 0), ("Shmem", 1160),
        ]
        return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in rows)

    def generated_files(self, hostname: str) -> dict[str, str]:
        """The files derived from the facts (a persona's own ``files`` win over these)."""
        return {
            "/proc/cpuinfo": self.cpuinfo(),
            "/proc/meminfo": self.meminfo(),
            "/proc/version": f"{self.kernel_name} version {self.kernel_release} (buildd@lcy02-amd64) "
                             f"(gcc version 11.4.0) {self.kernel_version}\n",
            "/proc/uptime": f"{self.uptime_seconds}.42 {self.uptime_seconds * self.cpu_count - 1000}.10\n",
            "/proc/loadavg": f"{self.load_average.replace(',', '')} 1/{len(self.processes) + 90} 2413\n",
            "/etc/passwd": self.passwd,
            "/etc/group": self.group,
            "/etc/os-release": self.os_release,
            "/etc/issue": self.issue,
            "/etc/hostname": hostname + "\n",
            "/etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n",
            "/etc/shadow": self.shadow(),
        }

    def shadow(self) -> str:
        """/etc/shadow to match /etc/passwd: locked system accounts, a (fake) SHA-512 hash for logins."""
        lines = []
        for entry in self.passwd.splitlines():
            name, _, rest = entry.partition(":")
            shell = rest.rsplit(":", 1)[-1]
            hashed = _fake_crypt(name) if shell.endswith("sh") else "*"
            lines.append(f"{name}:{hashed}:19720:0:99999:7:::")
        return "\n".join(lines) + "\n"
