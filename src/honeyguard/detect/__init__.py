"""Detection: rules (YAML in content/rules/) compiled with Hyperscan (pure ``re`` fallback), and
IOC extraction. ``load_labeler(settings.detect)`` is what the sensor uses; docs/rules.md is the
reference for rule authors."""

from __future__ import annotations

from honeyguard.detect.engine import Backend, Engine, Match, Ruleset, load_rules
from honeyguard.detect.fields import (
    Subject,
    event_subject,
    http_subject,
    raw_http_subject,
    raw_subject,
    ssh_command_subject,
    ssh_login_subject,
)
from honeyguard.detect.iocs import extract_iocs, subject_iocs
from honeyguard.detect.labeler import Result, RuleLabeler, load_labeler

__all__ = [
    "Backend",
    "Engine",
    "Match",
    "Result",
    "RuleLabeler",
    "Ruleset",
    "Subject",
    "event_subject",
    "extract_iocs",
    "http_subject",
    "load_labeler",
    "load_rules",
    "raw_http_subject",
    "raw_subject",
    "ssh_command_subject",
    "ssh_login_subject",
    "subject_iocs",
]
