"""Mitigation: policy plus guardrails turn scored indicators into Decisions, each with its trace."""

from honeyguard.mitigate.engine import Mitigator
from honeyguard.mitigate.guardrails import Guardrails
from honeyguard.mitigate.policy import Policy, load_policy

__all__ = ["Guardrails", "Mitigator", "Policy", "load_policy"]
