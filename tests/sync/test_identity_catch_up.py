"""A run's natural-key index sees the partners a parallel run created after the index was read.

Two slices run at once (Salesforce and HubSpot, two processes): the index of
the one is read before the other creates a partner from a company born in
its CRM. Without a catch-up, the same company born in the first CRM would
not be found by its domain and would become a second PRM partner.
"""

from __future__ import annotations

from prm_sync.model import Partner
from prm_sync.store import Store, make_engine, records
from prm_sync.sync.identity import KeyIndex

DOMAIN = ["domain"]


def save(store: Store, *partners: Partner) -> None:
    with store.session() as session:
        records.save_records(session, list(partners))


def test_catch_up_finds_what_another_run_created_and_keeps_this_runs_own(store: Store) -> None:
    save(store, Partner(id="ptn_old", name="Old Partner", domain="old.example"))
    index = KeyIndex()
    with store.session(readonly=True) as session:
        assert index.lookup(session, "partner", DOMAIN, ("old.example",)) == {"ptn_old"}
        assert index.catch_up(session, "partner_contact") == 0  # never indexed: read when first looked up

    other = Store(make_engine(store.engine.url))  # the other run's process
    try:
        save(other, Partner(id="ptn_theirs", name="Acme", domain="acme.example"))
    finally:
        other.close()
    mine = Partner(id="ptn_mine", name="Mine", domain="mine.example")
    index.add(mine)
    save(store, mine)

    with store.session(readonly=True) as session:
        assert index.lookup(session, "partner", DOMAIN, ("acme.example",)) == set()  # read before it existed
        index.catch_up(session, "partner")
        assert index.lookup(session, "partner", DOMAIN, ("acme.example",)) == {"ptn_theirs"}
        assert index.lookup(session, "partner", DOMAIN, ("mine.example",)) == {"ptn_mine"}
        index.catch_up(session, "partner")  # within the margin it reads the same records again, harmlessly
        for domain, found in (("acme.example", "ptn_theirs"), ("old.example", "ptn_old"), ("mine.example", "ptn_mine")):
            assert index.lookup(session, "partner", DOMAIN, (domain,)) == {found}
