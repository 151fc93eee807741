"""The native parts: the flow-log reader (docs/flows.md), the SSH sensor's
chacha20-poly1305@openssh.com cipher (docs/ssh.md, on OpenSSL's libcrypto) and the detection
engine's Hyperscan scans (docs/rules.md, on Debian's libhs). All optional: without a C compiler or
the library's headers the install still succeeds, and ``flows analyze`` uses its DuckDB reader, the
SSH sensor asyncssh's own cipher, the engine the pip binding of Hyperscan."""

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
    ]
)
