"""HubSpot signature v3 and the event array: what is accepted, what is refused, what is stored."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hubspot.utils.signature import Signature

from prm_sync.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HubSpotEvent,
    RejectReason,
    WebhookRejected,
    WebhookRequest,
    handle_hubspot,
    hubspot_v3_signature,
    normalise_uri,
    verify_hubspot_v3,
)


def _verify(kit, request: WebhookRequest, *, secret: str | None = None, now=None) -> None:
    verify_hubspot_v3(
        request.method,
        request.url,
        request.body,
        request.header(TIMESTAMP_HEADER),
        request.header(SIGNATURE_HEADER),
        secret or kit.CLIENT_SECRET,
        now or kit.NOW,
    )


def _reason(kit, request: WebhookRequest, **kwargs) -> RejectReason:
    with pytest.raises(WebhookRejected) as caught:
        _verify(kit, request, **kwargs)
    return caught.value.reason


def test_signature_matches_hubspots_own_client_library(kit) -> None:
    body = kit.hubspot_body(kit.hubspot_event(1))
    ours = hubspot_v3_signature("POST", kit.HUBSPOT_URL, body, "1700000000000", kit.CLIENT_SECRET)
    theirs = Signature.get_signature(
        kit.CLIENT_SECRET, body.decode(), "v3", kit.HUBSPOT_URL, "POST", "1700000000000"
    )
    assert ours == theirs


def test_valid_request_passes(kit) -> None:
    _verify(kit, kit.signed_hubspot_request(kit.hubspot_body(kit.hubspot_event(1))))


def test_tampered_body_is_refused(kit) -> None:
    signed = kit.hubspot_body(kit.hubspot_event(1))
    tampered = signed.replace(b"Acme 1", b"Evil 1")
    request = kit.signed_hubspot_request(tampered, signed_body=signed)
    assert _reason(kit, request) is RejectReason.bad_signature


def test_wrong_secret_is_refused(kit) -> None:
    request = kit.signed_hubspot_request(
        kit.hubspot_body(kit.hubspot_event(1)), secret="someone-elses-secret"
    )
    assert _reason(kit, request) is RejectReason.bad_signature


def test_different_url_is_refused(kit) -> None:
    request = kit.signed_hubspot_request(b"[]", url="https://attacker.example.com/webhooks/hubspot")
    forwarded = request.model_copy(update={"url": kit.HUBSPOT_URL})
    assert _reason(kit, forwarded) is RejectReason.bad_signature


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        pytest.param(timedelta(seconds=-301), False, id="301s-old-stale"),
        pytest.param(timedelta(seconds=-299), True, id="299s-old-ok"),
        pytest.param(timedelta(seconds=299), True, id="299s-ahead-ok"),
        pytest.param(timedelta(seconds=301), False, id="301s-ahead-refused"),
        pytest.param(timedelta(days=365), False, id="a-year-ahead-refused"),
    ],
)
def test_timestamp_window(kit, offset: timedelta, accepted: bool) -> None:
    request = kit.signed_hubspot_request(b"[]", at=kit.NOW + offset)
    if accepted:
        _verify(kit, request)
    else:
        assert _reason(kit, request) is RejectReason.stale


@pytest.mark.parametrize(
    "drop",
    [
        pytest.param({SIGNATURE_HEADER}, id="no-signature"),
        pytest.param({TIMESTAMP_HEADER}, id="no-timestamp"),
        pytest.param({SIGNATURE_HEADER, TIMESTAMP_HEADER}, id="neither"),
    ],
)
def test_missing_headers_are_refused(kit, drop: set[str]) -> None:
    request = kit.signed_hubspot_request(b"[]")
    headers = {k: v for k, v in request.headers.items() if k not in {d.lower() for d in drop}}
    assert _reason(kit, request.model_copy(update={"headers": headers})) is RejectReason.missing_header


@pytest.mark.parametrize(
    "timestamp", ["", "   ", "yesterday", "1.7e12"], ids=["empty", "blank", "word", "float"]
)
def test_unparseable_timestamp_is_refused(kit, timestamp: str) -> None:
    request = kit.signed_hubspot_request(b"[]")
    headers = {**request.headers, TIMESTAMP_HEADER.lower(): timestamp}
    assert _reason(kit, request.model_copy(update={"headers": headers})) is RejectReason.missing_header


def test_header_names_are_case_insensitive(kit) -> None:
    request = kit.signed_hubspot_request(b"[]")
    shouted = WebhookRequest(
        method="POST",
        url=request.url,
        body=request.body,
        headers={k.upper(): v for k, v in request.headers.items()},
    )
    _verify(kit, shouted)


def test_uri_decoding_follows_hubspots_v3_list() -> None:
    assert normalise_uri("https://h.example.com/hook?a=b%3Ac%2Fd%40e%21%24%27%28%29%2a%2C%3B%3F") == (
        "https://h.example.com/hook?a=b:c/d@e!$'()*,;?"
    )
    # not in the list: stays encoded, and an encoded percent sign is never decoded twice
    assert normalise_uri("https://h.example.com/a%20b?x=%253A") == "https://h.example.com/a%20b?x=%253A"


def test_request_with_encoded_query_verifies_against_decoded_signature(kit) -> None:
    called = "https://hooks.example.com/webhooks/hubspot?tenant=acme%3Aeu"
    timestamp = kit.ms(kit.NOW)
    # hubspot signs the decoded form
    signature = hubspot_v3_signature(
        "POST",
        "https://hooks.example.com/webhooks/hubspot?tenant=acme:eu",
        b"[]",
        timestamp,
        kit.CLIENT_SECRET,
    )
    request = WebhookRequest(
        method="POST",
        url=called,
        body=b"[]",
        headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp},
    )
    _verify(kit, request)


def test_accepted_events_land_in_the_inbox(kit, webhook_store, settings, secret) -> None:
    body = kit.hubspot_body(kit.hubspot_event(1), kit.hubspot_event(2, "deal.creation"))
    response = handle_hubspot(
        webhook_store, kit.signed_hubspot_request(body), settings, kit.NOW, client_secret=secret
    )
    assert (response.status, response.accepted, response.duplicates) == (200, 2, 0)
    assert json.loads(response.body) == {"accepted": 2, "duplicates": 0}
    events = kit.inbox(webhook_store, "hubspot")
    assert [e.delivery_id for e in events] == ["62515:4242:1", "62515:4242:2"]
    first = events[0].payload
    assert (first["system"], first["remote_object"], first["action"], first["remote_ids"]) == (
        "hubspot",
        "companies",
        "propertyChange",
        ["1001"],
    )
    assert first["event"]["propertyName"] == "name"
    assert events[1].payload["remote_object"] == "deals"


def test_replayed_request_adds_nothing(kit, webhook_store, settings, secret) -> None:
    request = kit.signed_hubspot_request(kit.hubspot_body(kit.hubspot_event(1), kit.hubspot_event(2)))
    handle_hubspot(webhook_store, request, settings, kit.NOW, client_secret=secret)
    replay = handle_hubspot(
        webhook_store, request, settings, kit.NOW + timedelta(seconds=30), client_secret=secret
    )
    assert (replay.status, replay.accepted, replay.duplicates) == (200, 0, 2)
    assert kit.inbox_count(webhook_store) == 2


def test_redelivered_event_in_a_new_request_is_deduplicated(kit, webhook_store, settings, secret) -> None:
    handle_hubspot(
        webhook_store,
        kit.signed_hubspot_request(kit.hubspot_body(kit.hubspot_event(7))),
        settings,
        kit.NOW,
        client_secret=secret,
    )
    retry_at = kit.NOW + timedelta(minutes=10)
    retried = kit.hubspot_body(kit.hubspot_event(7, attemptNumber=1), kit.hubspot_event(8))
    response = handle_hubspot(
        webhook_store,
        kit.signed_hubspot_request(retried, at=retry_at),
        settings,
        retry_at,
        client_secret=secret,
    )
    assert (response.accepted, response.duplicates) == (1, 1)
    assert kit.inbox_count(webhook_store) == 2


@pytest.mark.parametrize(
    "variant",
    ["tampered", "wrong-secret", "stale", "future", "missing-headers"],
)
def test_rejected_requests_store_nothing_and_say_nothing(
    kit, webhook_store, settings, secret, variant: str
) -> None:
    body = kit.hubspot_body(kit.hubspot_event(1))
    request = {
        "tampered": lambda: kit.signed_hubspot_request(body.replace(b"Acme", b"Evil"), signed_body=body),
        "wrong-secret": lambda: kit.signed_hubspot_request(body, secret="guess"),
        "stale": lambda: kit.signed_hubspot_request(body, at=kit.NOW - timedelta(minutes=6)),
        "future": lambda: kit.signed_hubspot_request(body, at=kit.NOW + timedelta(minutes=6)),
        "missing-headers": lambda: WebhookRequest(method="POST", url=kit.HUBSPOT_URL, headers={}, body=body),
    }[variant]()
    response = handle_hubspot(webhook_store, request, settings, kit.NOW, client_secret=secret)
    assert response.status == 401
    assert json.loads(response.body) == {"error": "unauthorized"}
    assert kit.inbox_count(webhook_store) == 0


def test_signed_but_malformed_body_is_a_400(kit, webhook_store, settings, secret) -> None:
    for body in (b"not json", b'[{"eventId": "x"}]', b'"a string"'):
        response = handle_hubspot(
            webhook_store, kit.signed_hubspot_request(body), settings, kit.NOW, client_secret=secret
        )
        assert response.status == 400, body
    assert kit.inbox_count(webhook_store) == 0


def test_secret_comes_from_the_configured_env_var(kit, webhook_store, settings, monkeypatch) -> None:
    monkeypatch.setenv(settings.hubspot.client_secret_env, kit.CLIENT_SECRET)
    response = handle_hubspot(webhook_store, kit.signed_hubspot_request(b"[]"), settings, kit.NOW)
    assert response.status == 200


@pytest.mark.parametrize(
    ("event", "remote_object", "remote_ids", "deleted_ids"),
    [
        pytest.param(
            {"subscriptionType": "company.propertyChange", "objectId": 11},
            "companies",
            ["11"],
            [],
            id="company-change",
        ),
        pytest.param(
            {"subscriptionType": "deal.deletion", "objectId": 12}, "deals", ["12"], ["12"], id="deal-deletion"
        ),
        pytest.param(
            {"subscriptionType": "contact.privacyDeletion", "objectId": 13},
            "contacts",
            ["13"],
            ["13"],
            id="privacy-deletion",
        ),
        pytest.param(
            {
                "subscriptionType": "contact.merge",
                "objectId": 20,
                "primaryObjectId": 20,
                "mergedObjectIds": [20, 21],
            },
            "contacts",
            ["20", "21"],
            ["21"],
            id="merge-loser-deleted",
        ),
        pytest.param(
            {"subscriptionType": "object.propertyChange", "objectTypeId": "2-7654321", "objectId": 30},
            "p_deal_registrations",
            ["30"],
            [],
            id="custom-object-by-type-id",
        ),
        pytest.param(
            {"subscriptionType": "object.creation", "objectTypeId": "0-2", "objectId": 31},
            "companies",
            ["31"],
            [],
            id="generic-standard-object",
        ),
        pytest.param(
            {"subscriptionType": "object.creation", "objectTypeId": "2-999", "objectId": 32},
            "2-999",
            ["32"],
            [],
            id="unknown-custom-object",
        ),
        pytest.param(
            {
                "subscriptionType": "contact.associationChange",
                "fromObjectId": 40,
                "toObjectId": 41,
                "associationType": "CONTACT_TO_COMPANY",
            },
            "contacts",
            ["40"],
            [],
            id="association-change",
        ),
    ],
)
def test_event_to_targets(kit, settings, event, remote_object, remote_ids, deleted_ids) -> None:
    parsed = HubSpotEvent.model_validate({"eventId": 1, "occurredAt": 1_700_000_000_000, **event})
    payload = parsed.to_payload(settings.hubspot.custom_object_types)
    assert (payload.remote_object, payload.remote_ids, payload.deleted_ids) == (
        remote_object,
        remote_ids,
        deleted_ids,
    )
