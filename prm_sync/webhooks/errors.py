"""Why a webhook request was refused, as a code that is safe to log.

The reason is for our logs and metrics only: the sender gets a bare 401/403
so an attacker probing the endpoint learns nothing about which check failed.
No secret, signature or body ever goes into the message.
"""

from __future__ import annotations

from enum import StrEnum

from prm_sync.errors import PrmSyncError


class RejectReason(StrEnum):
    missing_header = "missing_header"  # signature or timestamp header absent, empty or not a number
    stale = "stale"  # timestamp outside the accepted window (too old, or too far in the future)
    bad_signature = "bad_signature"
    wrong_organization = "wrong_organization"  # salesforce org id not in the allowed list
    unsafe_xml = "unsafe_xml"  # DOCTYPE / entity declarations: refused before anything is expanded
    malformed_body = "malformed_body"  # authenticated, but not the documented shape
    too_large = "too_large"


# the HTTP status each reason maps to; the body never says more than the status does
REJECT_STATUS: dict[RejectReason, int] = {
    RejectReason.missing_header: 401,
    RejectReason.stale: 401,
    RejectReason.bad_signature: 401,
    RejectReason.wrong_organization: 403,
    RejectReason.unsafe_xml: 400,
    RejectReason.malformed_body: 400,
    RejectReason.too_large: 413,
}


class WebhookRejected(PrmSyncError):
    """A webhook request failed authentication or validation and stored nothing."""

    def __init__(self, reason: RejectReason) -> None:
        self.reason = reason
        self.status = REJECT_STATUS[reason]
        super().__init__(f"webhook rejected: {reason.value}")
