"""Values HubSpot cannot hold, found before they are sent.

HubSpot's knowledge base ("Property field types in HubSpot") limits a text
property's value added through the CRM to 65,536 characters. HubSpot checks
every input of a batch before writing any and refuses the whole batch for one
bad value without naming it, so a long text sent in a batch of 100 costs the
batch and ~14 halving calls to find (``connectors.isolate``). Checked here, the
record fails at once with the field and the length, and costs no request.

Dates need no check: HubSpot takes any millisecond timestamp for a datetime
property (its developer FAQ on timestamps), and prm-sync writes no date-only
property to HubSpot.
"""

from __future__ import annotations

from typing import Any

MAX_TEXT_CHARS = 65_536
CODE = "VALUE_OUT_OF_RANGE"


def _length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset):  # a multi-select travels joined by ";"
        return sum(len(str(v)) for v in value) + max(len(value) - 1, 0)
    return 0


def first_problem(values: dict[str, Any]) -> tuple[str, str] | None:
    """(property, reason) of the first value HubSpot cannot hold, or None."""
    for name, value in values.items():
        length = _length(value)
        if length > MAX_TEXT_CHARS:
            return name, (f"{name}: a text of {length:,} characters; HubSpot keeps at most "
                          f"{MAX_TEXT_CHARS:,} in a property (starts {str(value)[:40]!r})")
    return None
