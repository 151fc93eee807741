"""Exporters: Decisions -> the formats enforcement points and sharing partners read.

Each family of formats is one module in this package defining ``EXPORTERS`` (see base.Exporter);
``exporter_registry()`` finds them, nothing lists them by hand.
"""

from honeyguard.export.base import Exporter, ExportError, exporter_registry, render

__all__ = ["ExportError", "Exporter", "exporter_registry", "render"]
