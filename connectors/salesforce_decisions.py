"""What the Salesforce connector does with an error answer: one table, read top to bottom.

The decision is data, separate from the transport (the shape of Airbyte's
``ErrorResolution``): each row matches an HTTP status, optionally an
``errorCode`` and a fragment of the body, and says what to do next
(``action``) and, when the answer ends up with the caller, what kind of
failure it is (``failure``, which picks the ``prm_sync.errors`` class).
The session applies ``action`` to every request (REST queries, sObject
Collections, Bulk 2.0 jobs, polls and result downloads alike); the connector
maps ``failure`` when simple-salesforce raises on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Action(Enum):
    RETURN = "return"  # hand the answer to the caller
    RETRY = "retry"  # back off (honouring Retry-After) and send again
    RENEW_SESSION_THEN_RETRY = "renew_session_then_retry"  # sign in again, resend once


class Failure(Enum):
    TRANSIENT = "transient"  # worth retrying later
    QUOTA = "quota"  # the daily budget is spent: stop cleanly, resume next run
    AUTH = "auth"  # credentials or session refused
    CONFIG = "config"  # a request our configuration shaped was refused (unknown object, field)
    FATAL = "fatal"


@dataclass(frozen=True)
class Rule:
    status: range | int
    action: Action
    failure: Failure
    code: str | None = None  # errorCode of the first error in the body
    text: str | None = None  # a fragment of the raw body
    why: str = ""

    def matches(self, status: int, code: str | None, body: str) -> bool:
        in_status = status in self.status if isinstance(self.status, range) else status == self.status
        return (in_status and (self.code is None or self.code == code)
                and (self.text is None or self.text in body))


RULES: tuple[Rule, ...] = (
    Rule(401, Action.RENEW_SESSION_THEN_RETRY, Failure.AUTH, code="INVALID_SESSION_ID",
         why="the session expired or was revoked: sign in again and resend (writes are idempotent upserts)"),
    Rule(401, Action.RETURN, Failure.AUTH, why="the credentials are refused"),
    Rule(403, Action.RETRY, Failure.TRANSIENT, code="REQUEST_LIMIT_EXCEEDED", text="ConcurrentPerOrg",
         why="too many concurrent long requests: wait and resend"),
    Rule(403, Action.RETURN, Failure.QUOTA, code="REQUEST_LIMIT_EXCEEDED",
         why="the org's daily API budget is spent"),
    Rule(403, Action.RETURN, Failure.AUTH, why="the user lacks a permission"),
    Rule(400, Action.RETURN, Failure.CONFIG, why="the request was malformed for this org"),
    Rule(404, Action.RETURN, Failure.CONFIG, why="no such object, field or resource"),
    Rule(range(500, 600), Action.RETRY, Failure.TRANSIENT, why="the server failed: wait and resend"),
)
_DEFAULT = Rule(range(0, 1000), Action.RETURN, Failure.FATAL, why="an answer no rule expects")


def error_code(body: Any) -> str | None:
    """``errorCode`` of the first error in a parsed Salesforce error body."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code = body[0].get("errorCode")
        return str(code) if code is not None else None
    return None


def decide(status: int, parsed: Any = None, raw: str = "") -> Rule:
    """The first rule matching an answer (successes never get here)."""
    code = error_code(parsed)
    for rule in RULES:
        if rule.matches(status, code, raw):
            return rule
    return _DEFAULT
