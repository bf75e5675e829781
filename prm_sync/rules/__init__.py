"""Channel rules: conflict check, registration lifecycle, certifications and tiers,
attribution on closed-won deals, and commission payouts.

Each rule decides from the PRM store, stores its decision with a
human-readable reason, and writes an audit entry. ``apply_rules`` is the
sync engine's hook; ``check_csv`` backs ``prm-sync conflicts check``.
"""

from prm_sync.rules.conflict import ConflictChecker, ConflictResult, MatchedRecord, check_registrations
from prm_sync.rules.hooks import apply_rules, apply_rules_in_session

__all__ = [
    "ConflictChecker",
    "ConflictResult",
    "MatchedRecord",
    "apply_rules",
    "apply_rules_in_session",
    "check_registrations",
]
