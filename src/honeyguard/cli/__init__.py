"""The honeyguard command line (Typer + Rich)."""
