"""Options and helpers the CLI nouns share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from honeyguard.config import Settings, load_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (YAML). Default: built-in loopback settings, "
                 "or $HONEYGUARD_CONFIG.", show_default=False),
]


def settings_from(config: Path | None) -> Settings:
    if config is None and os.environ.get("HONEYGUARD_CONFIG"):
        config = Path(os.environ["HONEYGUARD_CONFIG"])
    return load_settings(config)
