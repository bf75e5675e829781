"""The journal of associations in flight, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from prm_sync.store import Store, pending_links

AT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def test_a_batch_is_journaled_until_closed_and_left_overs_are_found_per_slice(store: Store) -> None:
    with store.session() as session:
        first = pending_links.open_batch(session, entity="deal_registration", system="hubspot",
                                         record_ids=["reg_1", "reg_2"], run_id="run_a", at=AT)
        second = pending_links.open_batch(session, entity="deal_registration", system="hubspot",
                                          record_ids=["reg_3"], run_id="run_a", at=AT)
        other = pending_links.open_batch(session, entity="partner_contact", system="hubspot",
                                         record_ids=["con_1"], run_id="run_a", at=AT)
    assert len({first, second, other}) == 3
    with store.session() as session:
        pending_links.close_batch(session, first)
    with store.session(readonly=True) as session:
        assert pending_links.left_over(session, "deal_registration", "hubspot") == {second: ["reg_3"]}
        assert pending_links.left_over(session, "deal_registration", "salesforce") == {}
    with store.session() as session:
        pending_links.close_batches(session, [second, other])
    with store.session(readonly=True) as session:
        assert pending_links.left_over(session, "partner_contact", "hubspot") == {}
