"""The native parts, all optional: without a C compiler or the library's headers the install still
succeeds and each room uses its Python (or pure-library) path, which the tests hold the native one
equal to.

- ``intel.flows._fastscan``: the flow-log reader (docs/flows.md);
- ``intel._foldnative``: the indicator book's fold (docs/intel.md);
- ``sensor.sshd._sshcipher``: chacha20-poly1305@openssh.com on OpenSSL's libcrypto (docs/ssh.md);
- ``detect._hsnative``: Hyperscan scans on Debian's libhs, and the request head's split;
- ``detect._decoders``: the request fields' decoding (percent, overlong UTF-8, escapes);
- ``detect.iocs._iocscan``: the IOC extractors' URL, IPv4 and download-command scans (docs/rules.md).
"""

from setuptools import Extension, setup

WARNINGS = ["-Wall", "-Wextra", "-Wno-missing-field-initializers"]
DETECT_TEXT = "src/honeyguard/detect/_detect_text.h"  # shared by _decoders and _hsnative


def native(
    name: str,
    source: str,
    *,
    headers: tuple[str, ...] = (),
    flags: tuple[str, ...] = ("-O2",),
    libraries: tuple[str, ...] = (),
    include_dirs: tuple[str, ...] = (),
) -> Extension:
    """One optional extension, built with the warnings on; its headers are its ``depends`` (a
    header's change rebuilds it). Where it cannot be built, the install goes on without it."""
    return Extension(
        name,
        [source],
        depends=list(headers),
        extra_compile_args=[*flags, *WARNINGS],
        libraries=list(libraries),
        include_dirs=list(include_dirs),
        optional=True,
    )


setup(
    ext_modules=[
        native(
            "honeyguard.intel.flows._fastscan",
            "src/honeyguard/intel/flows/_fastscan.c",
            flags=("-O3",),
            headers=("src/honeyguard/intel/flows/_fastscan_lines.h", "src/honeyguard/intel/flows/_fastscan_conv.h"),
        ),
        native(
            "honeyguard.intel._foldnative",
            "src/honeyguard/intel/_foldnative.c",
            headers=(
                "src/honeyguard/intel/_foldnative_seen.h",
                "src/honeyguard/intel/_foldnative_entry.h",
                "src/honeyguard/intel/_foldnative_book.h",
                "src/honeyguard/intel/_foldnative_event.h",
            ),
            flags=("-O2", "-ffp-contract=off"),  # no fused multiply-add: Python's floats
        ),
        native("honeyguard.sensor.sshd._sshcipher", "src/honeyguard/sensor/sshd/_sshcipher.c", libraries=("crypto",)),
        native(
            "honeyguard.detect._hsnative",
            "src/honeyguard/detect/_hsnative.c",
            headers=("src/honeyguard/detect/_hsnative_split.h", DETECT_TEXT),
            include_dirs=("/usr/include/hs",),
            libraries=("hs",),
        ),
        native(
            "honeyguard.detect._decoders",
            "src/honeyguard/detect/_decoders.c",
            headers=(
                "src/honeyguard/detect/_decoders_fields.h",
                "src/honeyguard/detect/_decoders_recorded.h",
                DETECT_TEXT,
            ),
        ),
        native(
            "honeyguard.detect.iocs._iocscan",
            "src/honeyguard/detect/iocs/_iocscan.c",
            headers=(
                "src/honeyguard/detect/iocs/_iocgates.h",
                "src/honeyguard/detect/iocs/_ioccollect.h",
                "src/honeyguard/detect/iocs/_iocjob.h",
            ),
        ),
    ]
)
