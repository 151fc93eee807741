"""The one native part: the flow-log reader (docs/flows.md). Optional: without a C compiler the
install still succeeds and ``flows analyze`` uses its DuckDB reader instead."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "honeyguard.intel.flows._fastscan",
            ["src/honeyguard/intel/flows/_fastscan.c"],
            depends=["src/honeyguard/intel/flows/_fastscan_lines.h"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
