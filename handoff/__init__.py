"""Warm handoffs: cases, their transcript and the audit trail (design.md §6).

The bot opens cases here; the staff inbox (next issue) works them. This is
the package's public API: other packages use only what is re-exported here.
"""

from .cases import (
    PRIORITY_COMPLEX,
    PRIORITY_CRISIS,
    PRIORITY_OTHER,
    STATUSES,
    AuditEvent,
    Case,
    CaseError,
    Consent,
    TranscriptEntry,
    append_message,
    audit,
    audit_trail,
    case_for_resident,
    escalate,
    get_case,
    hand_back,
    open_case,
    priority_for,
    set_status,
    take_over,
    transcript,
    update_assessment,
    update_consent,
)
from .migrations import migrate

__all__ = [
    "PRIORITY_COMPLEX",
    "PRIORITY_CRISIS",
    "PRIORITY_OTHER",
    "STATUSES",
    "AuditEvent",
    "Case",
    "CaseError",
    "Consent",
    "TranscriptEntry",
    "append_message",
    "audit",
    "audit_trail",
    "case_for_resident",
    "escalate",
    "get_case",
    "hand_back",
    "migrate",
    "open_case",
    "priority_for",
    "set_status",
    "take_over",
    "transcript",
    "update_assessment",
    "update_consent",
]
