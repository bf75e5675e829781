"""Find the record a remote refused a whole batch for, so that the rest of the batch still lands.

Some refusals name no record: HubSpot validates every input of a batch
create/update/upsert before writing any and answers one ``400
VALIDATION_ERROR`` ("Property values were not valid: [...]") when a single
value is bad; Salesforce refuses a whole sObject Collections call with
``JSON_PARSER_ERROR`` when one record's value cannot be deserialised. Sending
the batch again would fail the same way on every run, and failing all of it
would park good records behind one bad one.

``write_isolating`` sends the batch as it is (one call: nothing extra when
nothing is wrong); when the remote refuses it whole, it sends each half,
recursively, until the refused records stand alone. One bad record among
``n`` costs about ``2·log2(n)`` extra calls (100 records: 14; 200: 16; two bad
among 100: 24 at the median, four: 40, six: 52). A refusal that every record
shares (a property the portal does not have, which the run's preflight
reports first) would split down to single records, so the extra calls per
batch are capped: past the cap the parts not yet sent alone fail with the
refusal, marked as not isolated, and the next run tries them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from connectors.base import WriteResult
from prm_sync.errors import RemoteErrorInfo

T = TypeVar("T")

MAX_EXTRA_CALLS = 64
"""Extra calls one batch may spend on isolation: enough for six bad records among 100, four among 200."""


class BatchRefused(Exception):
    """The remote refused the whole call for a reason that may belong to one record of it."""

    def __init__(self, info: RemoteErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


def refused_result(key: str, info: RemoteErrorInfo, *, isolated: bool) -> WriteResult:
    """The failed record a refusal leaves: this record's own, or its part's when the cap stopped the search."""
    message = info.message if isolated else (
        f"refused with its batch, which was not split further within {MAX_EXTRA_CALLS} extra calls "
        f"(the next run tries again): {info.message}"
    )
    return WriteResult(key=key, ok=False, error_code=info.code, error_message=message,
                       error_fields=list(info.fields), retryable=not isolated)


def write_isolating(
    items: Sequence[T],
    send: Callable[[Sequence[T]], dict[str, WriteResult]],
    key: Callable[[T], str],
    *,
    max_extra_calls: int = MAX_EXTRA_CALLS,
) -> dict[str, WriteResult]:
    """``send(items)``; when it raises ``BatchRefused``, send halves until the refused records stand alone."""
    budget = max_extra_calls

    def attempt(part: Sequence[T]) -> dict[str, WriteResult]:
        nonlocal budget
        try:
            return send(part)
        except BatchRefused as refusal:
            if len(part) == 1 or budget < 2:
                return {key(item): refused_result(key(item), refusal.info, isolated=len(part) == 1) for item in part}
            budget -= 2
            middle = len(part) // 2
            return {**attempt(part[:middle]), **attempt(part[middle:])}

    return attempt(items)
