"""Halving a refused batch: what it costs and what it leaves (``connectors.isolate``), counted on a fake remote."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from connectors.base import WriteResult
from connectors.isolate import MAX_EXTRA_CALLS, BatchRefused, write_isolating
from prm_sync.errors import RemoteErrorInfo


class Remote:
    """Refuses any call holding a bad record, naming none of them (as HubSpot's batch validation does)."""

    def __init__(self, bad: set[int]) -> None:
        self.bad, self.calls = bad, 0

    def send(self, part: Sequence[int]) -> dict[str, WriteResult]:
        self.calls += 1
        if self.bad.intersection(part):
            raise BatchRefused(RemoteErrorInfo("hubspot", 400, "INVALID_OPTION", "diamond was not one of the options"))
        return {str(i): WriteResult(key=str(i), ok=True) for i in part}


CASES = [  # batch size, bad records -> calls, records failed
    pytest.param(100, set(), 1, 0, id="nothing wrong: one call"),
    pytest.param(100, {0}, 13, 1, id="one bad record first in 100"),
    pytest.param(100, {57}, 15, 1, id="one bad record inside 100"),
    pytest.param(200, {199}, 17, 1, id="one bad record last in 200"),
    pytest.param(100, {3, 96}, 25, 2, id="two bad records at both ends"),
    pytest.param(1, {0}, 1, 1, id="a batch of one"),
]


@pytest.mark.parametrize(("size", "bad", "calls", "failed"), CASES)
def test_halving_finds_the_bad_records_and_lands_the_rest(size: int, bad: set[int], calls: int, failed: int) -> None:
    remote = Remote(bad)
    results = write_isolating(list(range(size)), remote.send, str)

    assert remote.calls == calls
    refused = {key for key, result in results.items() if not result.ok}
    assert refused == {str(i) for i in bad} and len(refused) == failed
    assert all(not results[k].retryable and results[k].error_code == "INVALID_OPTION" for k in refused)
    assert len(results) == size


def test_a_refusal_every_record_shares_stops_at_the_cap_and_is_tried_again_next_run() -> None:
    remote = Remote(set(range(100)))
    results = write_isolating(list(range(100)), remote.send, str)

    assert remote.calls == 1 + MAX_EXTRA_CALLS
    assert all(not r.ok for r in results.values())
    not_isolated = [r for r in results.values() if r.retryable]
    assert not_isolated and all("not split further" in str(r.error_message) for r in not_isolated)
