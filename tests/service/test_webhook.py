"""`POST /api/connect/webhook`: signatures, size, payload, and what each event does to D1.

Every case asserts the answer Stripe gets and what the fake Worker (D1) and fake Stripe saw.
"""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connect_backend import webhooks as webhook_module
from connect_backend.settings import Settings
from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker, Gate, stripe_error
from tests.support.service import (
    SECOND_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    ASGIApp,
    make_settings,
    signed,
    stream,
)
from tests.support.stripe_account import stripe_account

ORG = "org_a"
ACCT = "acct_1Webhook0000000001"
ACCOUNT_PATH = rf"/v1/accounts/{ACCT}"
MIB = 1024 * 1024
NOW = 1_795_000_000  # a frozen "now" for the tolerance edges


def link(worker: FakeWorker, stripe: FakeStripe, *, truth: str = "active") -> dict[str, Any]:
    """ORG holds ACCT in D1 as freshly onboarded; Stripe's truth about ACCT is `truth`."""
    stripe.accounts[ACCT] = stripe_account(ACCT, organization_id=ORG, state=truth)
    return worker.add_org(
        ORG,
        stripe_connect_account_id=ACCT,
        stripe_connect_status="pending",
        onboarding_step="details_submission",
    )


def onboarding_of(worker: FakeWorker, org_id: str = ORG) -> tuple[Any, Any, Any]:
    org = worker.organizations[org_id]
    return (
        org["stripe_connect_status"],
        org["onboarding_step"],
        org["onboarding_rejection_reason"],
    )


def written(worker: FakeWorker) -> list[dict[str, Any]]:
    """The bodies of every `update-organization` call the service made."""
    return [json.loads(r.content) for r in worker.calls("update-organization")]


def assert_untouched(worker: FakeWorker, stripe: FakeStripe) -> None:
    assert worker.requests == []
    assert stripe.requests == []


def ack(response: httpx.Response, action: str) -> None:
    """The answer is the documented `WebhookAck` (the route writes it itself: `DirectRoute`)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"received", "event_id", "action"}
    assert body["received"] is True
    assert body["event_id"].startswith("evt_")
    assert body["action"] == action


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """The webhook's clock stops at NOW, so the tolerance edges are exact."""
    monkeypatch.setattr(webhook_module, "time", types.SimpleNamespace(time=lambda: float(NOW)))
    return NOW


# --- signatures ---------------------------------------------------------------------------


async def test_signature_made_with_the_first_secret_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    r = await events.deliver(client, events.account_updated(ACCT), secret=WEBHOOK_SECRET)
    ack(r, "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_signature_made_with_the_second_secret_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    r = await events.deliver(client, events.account_updated(ACCT), secret=SECOND_WEBHOOK_SECRET)
    ack(r, "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_one_matching_signature_among_several_is_enough(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    body = events.encode(events.account_updated(ACCT))
    good = signed(body, secret=SECOND_WEBHOOK_SECRET)["Stripe-Signature"]
    timestamp, good_v1 = good.split(",")
    bad_v1 = "v1=" + signed(body, secret="whsec_retired")["Stripe-Signature"].split("v1=")[1]
    header = f"{timestamp},{bad_v1},{good_v1},v0=deadbeef"
    r = await client.post(
        "/api/connect/webhook", content=body, headers={"Stripe-Signature": header}
    )
    ack(r, "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_missing_signature_header_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    r = await client.post(
        "/api/connect/webhook",
        content=events.encode(events.account_updated(ACCT)),
        headers={"Content-Type": "application/json"},
    )
    assert error_code(r, 400) == "missing_signature"
    assert_untouched(worker, stripe)
    assert onboarding_of(worker) == ("pending", "details_submission", None)


async def test_signature_made_with_an_unknown_secret_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    r = await events.deliver(client, events.account_updated(ACCT), secret="whsec_attacker")
    assert error_code(r, 400) == "invalid_signature"
    assert_untouched(worker, stripe)


async def test_signature_over_another_body_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    body = events.encode(events.account_updated(ACCT))
    header = signed(body)
    tampered = body.replace(b'"livemode":false', b'"livemode":true ')
    assert tampered != body
    r = await client.post("/api/connect/webhook", content=tampered, headers=header)
    assert error_code(r, 400) == "invalid_signature"
    assert_untouched(worker, stripe)


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda t, v1: "garbage", id="no-fields"),
        pytest.param(lambda t, v1: f"t={t}", id="no-v1"),
        pytest.param(lambda t, v1: f"v1={v1}", id="no-timestamp"),
        pytest.param(lambda t, v1: f"t=yesterday,v1={v1}", id="timestamp-not-a-number"),
        pytest.param(lambda t, v1: f"t={t},v1=", id="empty-v1"),
        pytest.param(lambda t, v1: f"t={t},v0={v1}", id="only-v0"),
    ],
)
async def test_malformed_signature_header_is_refused(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    make_header: Callable[[str, str], str],
) -> None:
    link(worker, stripe)
    body = events.encode(events.account_updated(ACCT))
    t, v1 = (part.split("=", 1)[1] for part in signed(body)["Stripe-Signature"].split(","))
    r = await client.post(
        "/api/connect/webhook", content=body, headers={"Stripe-Signature": make_header(t, v1)}
    )
    assert error_code(r, 400) == "invalid_signature"
    assert_untouched(worker, stripe)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400], ids=["past", "future", "1h", "1d"])
async def test_timestamp_beyond_the_tolerance_is_refused(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    frozen_clock: int,
    offset: int,
) -> None:
    link(worker, stripe)
    r = await events.deliver(client, events.account_updated(ACCT), at=frozen_clock + offset)
    assert error_code(r, 400) == "invalid_signature"
    assert_untouched(worker, stripe)


@pytest.mark.parametrize("offset", [-300, 300, 0], ids=["oldest", "furthest-ahead", "now"])
async def test_timestamp_within_the_tolerance_is_accepted(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    frozen_clock: int,
    offset: int,
) -> None:
    link(worker, stripe)
    r = await events.deliver(client, events.account_updated(ACCT), at=frozen_clock + offset)
    ack(r, "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


# --- body and payload ---------------------------------------------------------------------


async def test_signed_body_that_is_not_json_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    r = await events.deliver(client, b'{"id": "evt_1", "type": ')
    assert error_code(r, 400) == "invalid_payload"
    assert_untouched(worker, stripe)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([], id="array"),
        pytest.param("account.updated", id="string"),
        pytest.param({"object": "event"}, id="no-id-type-data"),
        pytest.param({"id": "evt_1", "type": "account.updated", "data": {}}, id="no-data-object"),
        pytest.param({"id": "evt_1", "type": "account.updated", "data": []}, id="data-not-object"),
        pytest.param({"id": 1, "type": "account.updated", "data": {"object": {}}}, id="id-number"),
        pytest.param({"id": "evt_1", "type": None, "data": {"object": {}}}, id="type-null"),
    ],
)
async def test_signed_json_that_is_not_an_event_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe, payload: Any
) -> None:
    r = await events.deliver(client, json.dumps(payload).encode())
    assert error_code(r, 400) == "invalid_payload"
    assert_untouched(worker, stripe)


async def test_created_is_read_as_json_schema_reads_an_integer(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """`created` is an `integer` in the OpenAPI document, and JSON Schema's integer is any
    number without a fraction: 1700000000.0 is the event Stripe made then; 1700000000.5 is no
    Stripe event (Schemathesis found the first refused)."""
    link(worker, stripe)
    whole = events.account_updated(ACCT)
    whole["created"] = 1_700_000_000.0
    half = events.account_updated(ACCT)
    half["created"] = 1_700_000_000.5

    accepted = await events.deliver(client, whole)
    refused = await events.deliver(client, half)

    ack(accepted, "synced")
    assert error_code(refused, 400) == "invalid_payload"


async def test_body_over_1_mib_with_content_length_is_refused(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    evt = events.account_updated(ACCT)
    evt["data"]["object"]["metadata"]["padding"] = "x" * MIB
    r = await events.deliver(client, evt)
    assert r.request.headers["content-length"] == str(len(r.request.content))
    assert error_code(r, 413) == "payload_too_large"
    assert_untouched(worker, stripe)


async def test_streamed_body_over_1_mib_is_refused_before_it_is_all_read(
    service: ASGIApp, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe)
    chunk = b" " * (64 * 1024)
    total_chunks = 64  # 4 MiB
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(total_chunks):
            pulled += 1
            yield chunk

    header = signed(b"irrelevant")
    r = await stream(service, "/api/connect/webhook", content=body(), headers=header)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert error_code(r, 413) == "payload_too_large"
    assert pulled <= MIB // len(chunk) + 1 < total_chunks
    assert_untouched(worker, stripe)


async def test_body_of_exactly_1_mib_is_accepted(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    raw = events.encode(events.event("customer.created", {"id": "cus_1", "object": "customer"}))
    body = raw + b" " * (MIB - len(raw))
    assert len(body) == MIB
    r = await events.deliver(client, body)
    ack(r, "logged")
    assert_untouched(worker, stripe)


# --- account events -----------------------------------------------------------------------


async def test_account_updated_writes_the_status_derived_from_stripe_s_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    r = await events.deliver(client, events.account_updated(ACCT, state="new"))
    ack(r, "synced")
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1
    [write] = written(worker)
    assert write["organization_id"] == ORG
    assert write["updates"] == {
        "stripe_connect_status": "active",
        "onboarding_step": "complete",
        "onboarding_rejection_reason": None,
        "stripe_connect_requirements_deadline": None,  # Stripe names none
    }
    synced_at = datetime.fromisoformat(write["synced_at"])
    assert synced_at.utcoffset() is not None
    assert worker.organizations[ORG]["stripe_connect_synced_at"] == write["synced_at"]
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_a_moved_requirements_deadline_is_written_though_the_status_is_unchanged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    # D1 holds Stripe's status already; only the deadline moved (issue 23: reconcile reads
    # the accounts with requirements due by it), so the sync writes, with its view's order.
    link(worker, stripe, truth="due")
    worker.organizations[ORG].update(
        stripe_connect_status="pending",
        onboarding_step="action_required",
        stripe_connect_requirements_deadline="2026-12-01T00:00:00.000Z",
    )
    stripe.accounts[ACCT]["requirements"]["current_deadline"] = 1764806400  # 2025-12-04
    r = await events.deliver(client, events.account_updated(ACCT, state="due"))
    ack(r, "synced")
    [write] = written(worker)
    assert write["updates"]["stripe_connect_requirements_deadline"] == "2025-12-04T00:00:00Z"
    assert "synced_at" in write
    held = worker.organizations[ORG]
    assert held["stripe_connect_requirements_deadline"] == "2025-12-04T00:00:00.000Z"
    assert held["stripe_connect_synced_at"] == write["synced_at"]

    # The same view again (a redelivery) writes nothing.
    again = await events.deliver(client, events.account_updated(ACCT, state="due"))
    ack(again, "synced")
    assert len(written(worker)) == 1


async def test_stale_snapshot_in_the_event_loses_to_stripe_s_current_account(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="rejected")
    r = await events.deliver(client, events.account_updated(ACCT, state="active"))
    ack(r, "synced")
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1
    assert onboarding_of(worker) == ("disabled", "rejected", "rejected.fraud")


@pytest.mark.parametrize(
    ("truth", "expected"),
    [
        ("active", ("active", "complete", None)),
        ("due", ("pending", "action_required", None)),
        ("rejected", ("disabled", "rejected", "rejected.fraud")),
        ("new", ("pending", "details_submission", None)),
    ],
)
async def test_account_updated_stores_the_status_table_row_of_stripe_s_account(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    truth: str,
    expected: tuple[str, str, str | None],
) -> None:
    link(worker, stripe, truth=truth)
    worker.organizations[ORG].update(stripe_connect_status=None, onboarding_step="under_review")
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "synced")
    [write] = written(worker)
    assert (
        write["updates"]["stripe_connect_status"],
        write["updates"]["onboarding_step"],
        write["updates"]["onboarding_rejection_reason"],
    ) == expected
    assert onboarding_of(worker) == expected


@pytest.mark.parametrize(
    "make_event",
    [events.capability_updated, events.external_account_created, events.person_updated],
    ids=["capability.updated", "account.external_account.created", "person.updated"],
)
async def test_other_account_events_sync_the_account_too(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    make_event: Callable[[str], dict[str, Any]],
) -> None:
    link(worker, stripe, truth="active")
    r = await events.deliver(client, make_event(ACCT))
    ack(r, "synced")
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1
    assert len(written(worker)) == 1
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_duplicate_delivery_ends_in_the_same_state_and_writes_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="due")
    evt = events.account_updated(ACCT)
    ack(await events.deliver(client, evt), "synced")
    after_first = onboarding_of(worker)
    ack(await events.deliver(client, evt), "synced")
    [write] = written(worker)  # the second found D1 holding Stripe's view already
    assert write["updates"]["onboarding_step"] == "action_required"
    assert onboarding_of(worker) == after_first == ("pending", "action_required", None)


async def test_older_view_that_reaches_d1_last_does_not_overwrite_the_newer_one(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """Two deliveries race: the first reads the account before it became active, and its
    write is held back until the second (which read the active account) has been stored."""
    link(worker, stripe, truth="due")
    reads: list[str] = []

    def account_changing_after_first_read(_: httpx.Request) -> httpx.Response:
        state = "due" if not reads else "active"
        reads.append(state)
        return httpx.Response(200, json=stripe_account(ACCT, organization_id=ORG, state=state))

    stripe.fail("GET", ACCOUNT_PATH, account_changing_after_first_read)
    worker.gates["update-organization"] = Gate(hold_first=True)
    older, newer = await asyncio.gather(
        events.deliver(client, events.account_updated(ACCT)),
        events.deliver(client, events.account_updated(ACCT)),
    )
    ack(older, "synced")
    ack(newer, "synced")
    assert reads == ["due", "active"]
    first_arrived, last_arrived = written(worker)
    assert first_arrived["updates"]["onboarding_step"] == "complete"
    assert last_arrived["updates"]["onboarding_step"] == "action_required"
    assert last_arrived["synced_at"] < first_arrived["synced_at"]
    assert onboarding_of(worker) == ("active", "complete", None)
    assert worker.organizations[ORG]["stripe_connect_synced_at"] == first_arrived["synced_at"]


async def test_delivery_older_than_d1_s_view_leaves_d1_unchanged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="rejected")
    newer = "2099-01-01T00:00:00.000Z"
    worker.organizations[ORG]["stripe_connect_synced_at"] = newer
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "synced")
    [write] = written(worker)
    assert write["synced_at"] < newer
    assert onboarding_of(worker) == ("pending", "details_submission", None)
    assert worker.organizations[ORG]["stripe_connect_synced_at"] == newer


# --- deauthorization ----------------------------------------------------------------------


async def test_deauthorization_disables_the_organization(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    r = await events.deliver(client, events.deauthorized(ACCT))
    ack(r, "deauthorized")
    [write] = written(worker)
    assert write["updates"] == {
        "stripe_connect_status": "disabled",
        "onboarding_step": "deauthorized",
        "onboarding_rejection_reason": "deauthorized",
        "stripe_connect_requirements_deadline": None,  # the account's view is gone
    }
    assert "synced_at" in write
    assert stripe.requests == []  # the account can no longer be read
    assert onboarding_of(worker) == ("disabled", "deauthorized", "deauthorized")


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(
            lambda _: stripe_error(
                403,
                type_="invalid_request_error",
                code="account_invalid",
                message="The provided key does not have access to account (or that account "
                "does not exist). Application access may have been revoked.",
            ),
            id="403-account_invalid",
        ),
        pytest.param(lambda _: stripe_error(400, code="account_invalid"), id="400-account_invalid"),
    ],
)
async def test_account_update_after_deauthorization_keeps_it_deauthorized(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    refusal: Callable[[httpx.Request], httpx.Response],
) -> None:
    link(worker, stripe, truth="active")
    ack(await events.deliver(client, events.deauthorized(ACCT)), "deauthorized")
    stripe.fail("GET", ACCOUNT_PATH, refusal)
    r = await events.deliver(client, events.account_updated(ACCT, state="active"))
    ack(r, "synced")
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1
    assert onboarding_of(worker) == ("disabled", "deauthorized", "deauthorized")


async def test_deauthorization_of_an_unlinked_account_is_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org(ORG)
    r = await events.deliver(client, events.deauthorized(ACCT))
    ack(r, "unlinked")
    assert written(worker) == []
    assert worker.organizations[ORG]["stripe_connect_status"] is None


# --- events that change nothing ------------------------------------------------------------


async def test_live_event_with_a_test_key_is_acknowledged_and_ignored(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="rejected")
    r = await events.deliver(client, events.account_updated(ACCT, livemode=True))
    ack(r, "ignored")
    assert_untouched(worker, stripe)
    assert onboarding_of(worker) == ("pending", "details_submission", None)


class TestWithALiveKey:
    @pytest.fixture
    def settings(self) -> Settings:
        return make_settings(stripe_secret_key=SecretStr("sk_live_service123"))

    async def test_test_mode_event_is_acknowledged_and_ignored(
        self, client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
    ) -> None:
        link(worker, stripe, truth="rejected")
        r = await events.deliver(client, events.account_updated(ACCT, livemode=False))
        ack(r, "ignored")
        assert_untouched(worker, stripe)


@pytest.mark.parametrize(
    "make_event",
    [
        pytest.param(lambda: events.transfer_reversed(ACCT), id="transfer.reversed"),
        pytest.param(
            lambda: events.event(
                "charge.succeeded", {"id": "ch_1", "object": "charge", "amount": 500}, account=ACCT
            ),
            id="unknown-connect-event",
        ),
        pytest.param(
            lambda: events.event("customer.created", {"id": "cus_1", "object": "customer"}),
            id="unknown-platform-event",
        ),
    ],
)
async def test_events_without_an_effect_are_acknowledged_as_logged(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    make_event: Callable[[], dict[str, Any]],
) -> None:
    link(worker, stripe, truth="rejected")
    r = await events.deliver(client, make_event())
    ack(r, "logged")
    assert_untouched(worker, stripe)


async def test_account_linked_to_no_organization_is_acknowledged_as_unlinked(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org(ORG)
    stripe.accounts[ACCT] = stripe_account(ACCT, state="active")  # no metadata
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "unlinked")
    assert written(worker) == []
    assert worker.calls("create-connect-account") == []
    assert worker.organizations[ORG]["stripe_connect_account_id"] is None


async def test_unlinked_account_the_platform_can_no_longer_read_is_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org(ORG)
    stripe.fail("GET", ACCOUNT_PATH, lambda _: stripe_error(403, code="account_invalid"))
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "unlinked")
    assert written(worker) == []
    assert worker.calls("create-connect-account") == []


RESTRICTED_KEY_REFUSAL = {
    "type": "invalid_request_error",
    "message": "The provided key 'rk_test_***abc123' does not have the required permissions "
    "for this endpoint on account 'acct_1Webhook0000000001'. Having the "
    "'rak_accounts_kyc_basic_read' permission would allow this request to continue.",
}


def _restricted(_: httpx.Request) -> httpx.Response:
    return httpx.Response(403, json={"error": RESTRICTED_KEY_REFUSAL}, headers={"Request-Id": "r"})


async def test_a_restricted_key_s_refusal_is_a_502_and_never_marks_the_account_deauthorized(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    link(worker, stripe, truth="active")
    stripe.fail("GET", ACCOUNT_PATH, _restricted)

    r = await events.deliver(client, events.account_updated(ACCT))

    assert error_code(r, 502) == "stripe_error"  # Stripe delivers again once it is fixed
    assert written(worker) == []
    assert onboarding_of(worker) == ("pending", "details_submission", None)
    assert any('"stripe.permission_denied"' in m and '"error"' in m for m in caplog.messages)


async def test_once_the_key_is_fixed_the_redelivery_syncs(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    stripe.fail("GET", ACCOUNT_PATH, _restricted)
    evt = events.account_updated(ACCT)
    assert (await events.deliver(client, evt)).status_code == 502
    stripe.overrides.clear()

    ack(await events.deliver(client, evt), "synced")

    assert onboarding_of(worker) == ("active", "complete", None)


async def test_lost_d1_link_is_restored_from_the_account_s_metadata(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org(ORG)  # the onboarding's D1 write was lost
    stripe.accounts[ACCT] = stripe_account(ACCT, organization_id=ORG, state="due")
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "synced")
    [linked] = worker.calls("create-connect-account")
    assert json.loads(linked.content) == {
        "organization_id": ORG,
        "stripe_connect_account_id": ACCT,
        "account_api": "v1",  # an account event read through v1
    }
    assert worker.organizations[ORG]["stripe_connect_account_id"] == ACCT
    assert onboarding_of(worker) == ("pending", "action_required", None)


async def test_metadata_naming_an_organization_with_another_account_does_not_relink(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    worker.add_org(ORG, stripe_connect_account_id="acct_1Other", stripe_connect_status="active")
    stripe.accounts[ACCT] = stripe_account(ACCT, organization_id=ORG, state="rejected")
    r = await events.deliver(client, events.account_updated(ACCT))
    ack(r, "unlinked")
    assert written(worker) == []
    assert worker.organizations[ORG]["stripe_connect_account_id"] == "acct_1Other"
    assert worker.organizations[ORG]["stripe_connect_status"] == "active"


# --- failures: 5xx so that Stripe delivers again -------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [503, httpx.ConnectError("connection refused")],
    ids=["503", "connection-error"],
)
async def test_worker_failure_answers_503_and_the_redelivery_is_applied(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    failure: int | Exception,
) -> None:
    link(worker, stripe, truth="active")
    evt = events.account_updated(ACCT)
    worker.fail_with = failure
    r = await events.deliver(client, evt)
    assert error_code(r, 503) == "upstream_unavailable"
    assert onboarding_of(worker) == ("pending", "details_submission", None)
    assert worker.organizations[ORG]["stripe_connect_synced_at"] is None

    worker.fail_with = None
    ack(await events.deliver(client, evt), "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_failed_d1_write_answers_503_and_the_redelivery_is_applied(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="rejected")
    evt = events.account_updated(ACCT)
    worker.fail_path("update-organization", 503)
    r = await events.deliver(client, evt)
    assert error_code(r, 503) == "upstream_unavailable"
    assert len(worker.calls("update-organization")) >= 1  # tried (and retried), not stored
    assert onboarding_of(worker) == ("pending", "details_submission", None)

    worker.heal("update-organization")
    ack(await events.deliver(client, evt), "synced")
    assert onboarding_of(worker) == ("disabled", "rejected", "rejected.fraud")


async def _never_answers(_: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _connection_dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection dropped", request=request)


@pytest.mark.usefixtures("fast_stripe_retries")
@pytest.mark.parametrize("settings", [make_settings(stripe_timeout_seconds=0.2)])
@pytest.mark.parametrize(
    ("failure", "status", "on_the_wire"),
    [
        pytest.param(lambda _: stripe_error(500, type_="api_error"), 502, 3, id="500"),
        pytest.param(_never_answers, 503, 3, id="timeout"),
        # aiohttp repeats an idempotent request once when its connection drops unanswered.
        pytest.param(_connection_dropped, 503, 6, id="connection-error"),
    ],
)
async def test_stripe_failure_while_reading_the_account_answers_5xx_and_writes_nothing(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    failure: Callable[[httpx.Request], httpx.Response],
    status: int,
    on_the_wire: int,
) -> None:
    link(worker, stripe, truth="active")
    stripe.fail("GET", ACCOUNT_PATH, failure)
    r = await events.deliver(client, events.account_updated(ACCT))
    assert r.status_code == status, r.text
    # stripe-python's three attempts (it retried twice)
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == on_the_wire
    assert written(worker) == []
    assert onboarding_of(worker) == ("pending", "details_submission", None)


@pytest.mark.usefixtures("fast_stripe_retries")
async def test_redelivery_after_stripe_recovers_is_applied(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    evt = events.account_updated(ACCT)
    stripe.fail("GET", ACCOUNT_PATH, lambda _: stripe_error(500, type_="api_error"))
    assert (await events.deliver(client, evt)).status_code == 502
    stripe.overrides.clear()
    ack(await events.deliver(client, evt), "synced")
    assert onboarding_of(worker) == ("active", "complete", None)


# --- who may call -------------------------------------------------------------------------


async def test_webhook_needs_no_session_and_ignores_caller_headers(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    worker.add_org("org_other")
    r = await events.deliver(
        client,
        events.account_updated(ACCT),
        headers={"X-User-ID": "usr_mallory", "X-Org-ID": "org_other"},
    )
    ack(r, "synced")
    assert "authorization" not in r.request.headers
    assert worker.calls("verify-user-context") == []
    assert onboarding_of(worker) == ("active", "complete", None)
    assert onboarding_of(worker, "org_other") == (None, "account_creation", None)


async def test_event_of_a_deleted_unlinked_account_is_acknowledged(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The loser of an onboarding race is deleted at Stripe, but its events still arrive."""
    worker.add_org(ORG)
    r = await events.deliver(client, events.account_updated(ACCT, organization_id=ORG))
    ack(r, "unlinked")
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1  # Stripe: resource_missing
    assert written(worker) == []
    assert worker.calls("create-connect-account") == []


# --- one delivery, as few and as overlapped upstream calls as it can ------------------------


class _HeldUntil:
    """A gate for one Worker path: holds its calls until `event` is set (at most 2 s), and
    records whether it was set while they waited."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event
        self.overlapped: list[bool] = []

    async def enter(self) -> int:
        try:
            async with asyncio.timeout(2):
                await self.event.wait()
        except TimeoutError:
            pass
        self.overlapped.append(self.event.is_set())
        return 1

    def leave(self, turn: int) -> None:
        pass


async def test_the_organization_lookup_and_the_account_read_run_at_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    stripe_read = asyncio.Event()

    def read(_: httpx.Request) -> httpx.Response:
        stripe_read.set()
        return httpx.Response(200, json=stripe.accounts[ACCT])

    stripe.fail("GET", ACCOUNT_PATH, read)
    lookup = worker.gates[f"organization-by-account/{ACCT}"] = _HeldUntil(stripe_read)

    ack(await events.deliver(client, events.account_updated(ACCT)), "synced")

    assert lookup.overlapped == [True]  # Stripe was asked while D1's answer was still held
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_relinking_a_lost_link_reads_the_account_once(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    stripe.accounts[ACCT] = stripe_account(ACCT, organization_id=ORG, state="active")
    worker.add_org(ORG)  # the onboarding's D1 write was lost: no account held

    ack(await events.deliver(client, events.account_updated(ACCT)), "synced")

    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1
    assert worker.organizations[ORG]["stripe_connect_account_id"] == ACCT
    assert onboarding_of(worker) == ("active", "complete", None)


async def test_a_delivery_that_finds_d1_current_writes_nothing(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    link(worker, stripe, truth="active")
    worker.organizations[ORG].update(stripe_connect_status="active", onboarding_step="complete")

    ack(await events.deliver(client, events.account_updated(ACCT)), "synced")

    assert written(worker) == []
    assert len(stripe.calls("GET", ACCOUNT_PATH)) == 1


async def test_after_a_write_skipped_a_late_older_view_lands_and_the_next_event_restores_d1(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The cost of writing nothing when D1 is current (README: "A sync that changes nothing
    writes nothing"): D1's synced_at is not moved forward, so a view read earlier but written
    late still applies. Stripe announces every change with an event, whose delivery reads the
    account again and writes it with a later stamp: D1 converges to Stripe's truth."""
    link(worker, stripe, truth="due")
    worker.organizations[ORG].update(stripe_connect_status="active", onboarding_step="complete")
    views = ["due", "active", "active"]  # Stripe: due, then active again (and an event says so)
    first_read = asyncio.Event()

    def account(_: httpx.Request) -> httpx.Response:
        first_read.set()
        return httpx.Response(
            200, json=stripe_account(ACCT, organization_id=ORG, state=views.pop(0))
        )

    stripe.fail("GET", ACCOUNT_PATH, account)
    late_write = asyncio.Event()
    worker.gates["update-organization"] = _HeldUntil(late_write)
    stale = asyncio.create_task(events.deliver(client, events.account_updated(ACCT)))
    await first_read.wait()  # it read "due"; its write will be held until set below

    current = await events.deliver(client, events.account_updated(ACCT))  # reads active = D1
    ack(current, "synced")
    late_write.set()
    ack(await stale, "synced")
    assert onboarding_of(worker) == ("pending", "action_required", None)  # the late view landed

    ack(await events.deliver(client, events.account_updated(ACCT)), "synced")  # the next event

    assert [w["updates"]["onboarding_step"] for w in written(worker)] == [
        "action_required",
        "complete",
    ]
    assert onboarding_of(worker) == ("active", "complete", None)
