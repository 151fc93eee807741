"""Credential protection: find exposed AWS keys (scanner); honeytokens, quarantine and notifications
come in their own modules."""

from honeyguard.creds.detector import ScanOptions
from honeyguard.creds.finding import Finding, Hit, Verification
from honeyguard.creds.limits import ScanInputError, ScanLimits, ScanStats
from honeyguard.creds.scanner import Scanner, ScanResult

__all__ = ["Finding", "Hit", "ScanInputError", "ScanLimits", "ScanOptions", "ScanResult", "ScanStats",
           "Scanner", "Verification"]
