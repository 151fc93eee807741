"""The ``honeyguard`` command. Each noun is a module in this package exposing ``register(app)``;
nothing lists them by hand."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

from honeyguard.errors import HoneyguardError

app = typer.Typer(
    name="honeyguard",
    help="Active defense on your own infrastructure: honeypot sensors, detection, intelligence, "
    "guarded mitigation and the firewalls you already run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_err = Console(stderr=True)


def _register_nouns() -> None:
    import honeyguard.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_nouns()


def run() -> None:
    """Entry point: a HoneyguardError is one line on stderr and exit status 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except HoneyguardError as exc:
        _err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors come from the click that Typer bundles, whichever copy that is: match by shape.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(1)
        raise


if __name__ == "__main__":
    run()
