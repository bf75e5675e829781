"""A Salesforce session revoked in the middle of a 10,000-record sync: renewed, and nothing lost or doubled.

prm-sync signs in with the JWT bearer flow (the sandbox's connected app, as a
customer's org would have one); half way through the push of 10,000 partners
the org revokes every session. The run must still end ``succeeded``, and
counting the accounts back through simple-salesforce must find each partner
exactly once.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from prm_sync.config import AppConfig
from prm_sync.config.settings import SalesforceAuthConfig
from prm_sync.model import Partner
from prm_sync.store import failures, records
from prm_sync.sync.engine import SyncScope

PARTNERS = 10_000
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def jwt_sign_in(config: AppConfig) -> AppConfig:
    """Salesforce signs in with JWT bearer; the sandbox state fills in the URL, user, key and consumer key."""
    sf = config.systems.salesforce
    assert sf is not None
    auth = SalesforceAuthConfig(method="jwt_bearer", username="from-the-state-file", private_key_file=Path("x"))
    return config.model_copy(update={"systems": config.systems.model_copy(
        update={"salesforce": sf.model_copy(update={"auth": auth})})})


def test_a_session_revoked_mid_sync_is_renewed_and_every_record_arrives_once(
    make_sync_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False, config_update=jwt_sign_in)
    partners = [Partner(id=f"ptn_renew{i:07d}", name=f"Renewal Partner {i}", tier="silver", status="active",
                        partner_type="reseller", country="US", created_at=NOW, updated_at=NOW)
                for i in range(PARTNERS)]
    with env.runtime.store.session() as session:
        records.save_records(session, partners)
    app = env.apps["salesforce"]
    connector = env.runtime.connectors(["salesforce"])["salesforce"]
    assert connector.session.signer.method == "jwt_bearer"
    tokens_before = app.calls["oauth.token"]
    # 10,000 partners go out as 50 sObject Collections calls: revoke after the 25th API call of the run
    app.oauth.revoke_after_calls = 25
    written_at_revocation: list[int] = []
    end_sessions = app.oauth._end_all

    def revoke_and_count(*, revoke: bool) -> int:  # how many partners the org holds when the sessions end
        written_at_revocation.append(len(app.all_records("Account")))
        return end_sessions(revoke=revoke)

    app.oauth._end_all = revoke_and_count
    caplog.set_level(logging.DEBUG)

    # the channel rules touch no remote system (and rate 10,000 partners' tiers one by one): left out here
    report = env.engine(with_rules=False).run(SyncScope(entities=["partner"]))

    assert report.status == "succeeded", report.error or [s.stopped_reason for s in report.slices]
    assert report.totals()["created"] == PARTNERS and report.totals()["failed"] == 0
    assert app.oauth.revoke_after_calls is None  # the revocation did happen, mid-run:
    [written] = written_at_revocation  # once, with some partners written and others still to go
    assert 0 < written < PARTNERS, written
    assert connector.session.renewals == 1 and app.calls["oauth.token"] == tokens_before + 1
    with env.runtime.store.session(readonly=True) as session:
        assert failures.count_open(session) == 0

    # count them back through simple-salesforce, with a session of its own
    handle = requests.Session()
    handle.verify, handle.trust_env = str(env.config.systems.salesforce.ca_bundle), False
    sf = Salesforce(instance_url=connector.instance_url, session_id=app.access_token, session=handle)
    assert sf.query("SELECT COUNT() FROM Account WHERE IsPartner = true")["totalSize"] == PARTNERS
    ids = [r["PRM_Id__c"] for r in sf.query_all_iter("SELECT PRM_Id__c FROM Account WHERE IsPartner = true")]
    assert len(ids) == len(set(ids)) == PARTNERS and set(ids) == {p.id for p in partners}

    # no session token, key or secret reached the logs or the run report
    secrets = [*app.oauth.sessions, env.cluster.connected_app.consumer_secret,
               env.cluster.connected_app.consumer_key, env.cluster.app_files.private_key.read_text().splitlines()[1]]
    written = "\n".join(r.getMessage() for r in caplog.records) + json.dumps(report.model_dump(mode="json"))
    assert [s[:8] for s in secrets if s in written] == []
