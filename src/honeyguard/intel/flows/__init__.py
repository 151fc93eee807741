"""Flow-log analytics: AWS VPC Flow Logs v2 read with DuckDB, straight from the files.

``analyze_flows(paths, indicators=..., settings=...)`` returns a FlowReport: findings
(model.Finding: infected instances, outbound scanners, malware downloads), the blast radius of each
indicator seen, candidate C2 addresses and the counts of what could not be read. docs/flows.md.
"""

from honeyguard.intel.flows.analyze import analyze_flows
from honeyguard.intel.flows.files import FlowInputError, discover_files
from honeyguard.intel.flows.indicators import IndicatorFileError, IndicatorSet, load_indicators
from honeyguard.intel.flows.report import BlastRadius, CandidateC2, FlowReport, FlowStats, MalformedCounts
from honeyguard.intel.flows.settings import FlowSettings

__all__ = [
    "BlastRadius",
    "CandidateC2",
    "FlowInputError",
    "FlowReport",
    "FlowSettings",
    "FlowStats",
    "IndicatorFileError",
    "IndicatorSet",
    "MalformedCounts",
    "analyze_flows",
    "discover_files",
    "load_indicators",
]
