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

setup(
    ext_modules=[
        Extension(
            "honeyguard.intel.flows._fastscan",
            ["src/honeyguard/intel/flows/_fastscan.c"],
            depends=["src/honeyguard/intel/flows/_fastscan_lines.h", "src/honeyguard/intel/flows/_fastscan_conv.h"],
            extra_compile_args=["-O3", *WARNINGS],
            optional=True,
        ),
        Extension(
            "honeyguard.intel._foldnative",
            ["src/honeyguard/intel/_foldnative.c"],
            depends=["src/honeyguard/intel/_foldnative_seen.h", "src/honeyguard/intel/_foldnative_book.h"],
            extra_compile_args=["-O2", "-ffp-contract=off", *WARNINGS],  # no fused multiply-add: Python's floats
            optional=True,
        ),
        Extension(
            "honeyguard.sensor.sshd._sshcipher",
            ["src/honeyguard/sensor/sshd/_sshcipher.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", *WARNINGS],
            optional=True,
        ),
        Extension(
            "honeyguard.detect._hsnative",
            ["src/honeyguard/detect/_hsnative.c"],
            include_dirs=["/usr/include/hs"],
            libraries=["hs"],
            extra_compile_args=["-O2", *WARNINGS],
            optional=True,
        ),
        Extension(
            "honeyguard.detect._decoders",
            ["src/honeyguard/detect/_decoders.c"],
            depends=["src/honeyguard/detect/_decoders_fields.h"],
            extra_compile_args=["-O2", *WARNINGS],
            optional=True,
        ),
        Extension(
            "honeyguard.detect.iocs._iocscan",
            ["src/honeyguard/detect/iocs/_iocscan.c"],
            extra_compile_args=["-O2", *WARNINGS],
            optional=True,
        ),
    ]
)
