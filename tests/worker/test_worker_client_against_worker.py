"""The service's WorkerClient against the real Worker: every endpoint, success and errors."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from connect_backend.domain import Organization, OrganizationFilter, PayoutFailure
from connect_backend.errors import (
    AccountAlreadyLinked,
    AccountInUse,
    BadRequest,
    ClaimExceeded,
    IdempotencyMismatch,
    InvalidSession,
    NotAMember,
    NotDeauthorized,
    NotFound,
    UpstreamUnavailable,
)
from connect_backend.worker import WorkerClient
from tests.support import payout_outcomes
from tests.support.contract import request_validator
from tests.support.recording import Recording
from tests.support.worker_stack import AuthUser, BetterAuthApi, WorkerStack

pytestmark = pytest.mark.worker

SYNCED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def account_id() -> str:
    return f"acct_{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    async with httpx.AsyncHTTPTransport() as made:
        yield made


@pytest.fixture
def client(transport: httpx.AsyncBaseTransport, worker_stack: WorkerStack) -> WorkerClient:
    return WorkerClient(transport, base_url=worker_stack.base_url, api_key=worker_stack.api_key)


@pytest.fixture
async def owner(auth: BetterAuthApi) -> AuthUser:
    return await auth.sign_up(name="Owner")


@pytest.fixture
async def organization_id(auth: BetterAuthApi, owner: AuthUser) -> str:
    return await auth.create_organization(owner, name="Acme")


async def test_health(client: WorkerClient) -> None:
    await client.health()


async def test_health_with_a_wrong_key_raises(
    transport: httpx.AsyncBaseTransport, worker_stack: WorkerStack
) -> None:
    wrong = WorkerClient(transport, base_url=worker_stack.base_url, api_key="wrong-key")
    with pytest.raises(UpstreamUnavailable):
        await wrong.health()


async def test_the_rotated_key_works(
    transport: httpx.AsyncBaseTransport, worker_stack: WorkerStack
) -> None:
    rotated = WorkerClient(
        transport, base_url=worker_stack.base_url, api_key=worker_stack.api_keys[1]
    )
    await rotated.health()


async def test_verify_user_context_owner(
    client: WorkerClient, owner: AuthUser, organization_id: str
) -> None:
    context = await client.verify_user_context(
        session_token=owner.signed_token, organization_id=organization_id
    )
    assert context.user.id == owner.id
    assert context.user.email == owner.email
    assert context.user.role == "user"
    assert not context.user.is_platform_admin
    assert context.session.expires_at > datetime.now(UTC)
    assert context.organization is not None
    assert context.organization.id == organization_id
    assert context.organization.platform_fee_percent == 10.0
    assert context.organization.onboarding_step == "account_creation"
    assert context.member_role == "owner"


async def test_verify_user_context_without_organization(
    client: WorkerClient, owner: AuthUser
) -> None:
    context = await client.verify_user_context(session_token=owner.token, organization_id=None)
    assert context.organization is None
    assert context.member_role is None


async def test_verify_user_context_invalid_session(client: WorkerClient) -> None:
    with pytest.raises(InvalidSession):
        await client.verify_user_context(session_token=uuid.uuid4().hex, organization_id=None)


async def test_verify_user_context_revoked_session(
    client: WorkerClient, auth: BetterAuthApi
) -> None:
    user = await auth.sign_up()
    await auth.sign_out(user.token)
    with pytest.raises(InvalidSession):
        await client.verify_user_context(session_token=user.signed_token, organization_id=None)


async def test_verify_user_context_not_a_member(
    client: WorkerClient, auth: BetterAuthApi, organization_id: str
) -> None:
    stranger = await auth.sign_up()
    with pytest.raises(NotAMember):
        await client.verify_user_context(
            session_token=stranger.token, organization_id=organization_id
        )
    with pytest.raises(NotAMember):
        await client.verify_user_context(
            session_token=stranger.token, organization_id=f"org_missing_{uuid.uuid4().hex}"
        )


async def test_verify_user_context_member_and_platform_admin(
    client: WorkerClient,
    auth: BetterAuthApi,
    worker_stack: WorkerStack,
    owner: AuthUser,
    organization_id: str,
) -> None:
    member = await auth.sign_up()
    await auth.add_member(
        organization_id=organization_id, inviter=owner, user=member, role="member"
    )
    as_member = await client.verify_user_context(
        session_token=member.token, organization_id=organization_id
    )
    assert as_member.member_role == "member"

    platform = await auth.sign_up()
    await worker_stack.make_platform_admin(platform.id)
    as_admin = await client.verify_user_context(
        session_token=platform.token, organization_id=organization_id
    )
    assert as_admin.user.is_platform_admin
    assert as_admin.member_role is None
    assert as_admin.organization is not None


async def test_get_organization(client: WorkerClient, organization_id: str) -> None:
    organization = await client.get_organization(organization_id)
    assert organization.id == organization_id
    assert organization.name == "Acme"
    assert organization.stripe_connect_account_id is None
    with pytest.raises(NotFound):
        await client.get_organization(f"org_missing_{uuid.uuid4().hex}")


async def test_get_organization_with_an_awkward_id(client: WorkerClient) -> None:
    with pytest.raises(NotFound):
        await client.get_organization("a/../b?c#d")


async def test_get_organization_by_account(client: WorkerClient, organization_id: str) -> None:
    account = account_id()
    assert await client.get_organization_by_account(account) is None
    await client.create_connect_account(organization_id=organization_id, account_id=account)
    organization = await client.get_organization_by_account(account)
    assert organization is not None
    assert organization.id == organization_id


async def test_update_organization_ordered_by_synced_at(
    client: WorkerClient, organization_id: str
) -> None:
    first = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at=SYNCED,
    )
    assert first.applied
    assert first.organization.stripe_connect_status == "active"
    assert first.organization.stripe_connect_synced_at == SYNCED

    stale = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "disabled"},
        synced_at=SYNCED - timedelta(milliseconds=1),
    )
    assert not stale.applied
    assert stale.organization.stripe_connect_status == "active"

    newer = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "disabled", "onboarding_step": "deauthorized"},
        synced_at=SYNCED + timedelta(seconds=1),
    )
    assert newer.applied
    assert newer.organization.onboarding_step == "deauthorized"


async def test_update_organization_fee_without_synced_at(
    client: WorkerClient, organization_id: str
) -> None:
    result = await client.update_organization(
        organization_id=organization_id, updates={"platform_fee_percent": 12.5}
    )
    assert result.applied
    assert result.organization.platform_fee_percent == 12.5
    with pytest.raises(NotFound):
        await client.update_organization(
            organization_id=f"org_missing_{uuid.uuid4().hex}",
            updates={"platform_fee_percent": 1},
        )


async def test_create_connect_account(
    client: WorkerClient, auth: BetterAuthApi, organization_id: str
) -> None:
    account = account_id()
    created = await client.create_connect_account(
        organization_id=organization_id, account_id=account
    )
    assert created.created
    assert created.organization.stripe_connect_status == "pending"
    assert created.organization.onboarding_step == "details_submission"

    again = await client.create_connect_account(organization_id=organization_id, account_id=account)
    assert not again.created

    with pytest.raises(AccountAlreadyLinked) as linked:
        await client.create_connect_account(
            organization_id=organization_id, account_id=account_id()
        )
    assert linked.value.organization.stripe_connect_account_id == account

    someone = await auth.sign_up()
    other_org = await auth.create_organization(someone, name="Other")
    with pytest.raises(AccountInUse):
        await client.create_connect_account(organization_id=other_org, account_id=account)

    with pytest.raises(NotFound):
        await client.create_connect_account(
            organization_id=f"org_missing_{uuid.uuid4().hex}", account_id=account_id()
        )


async def test_the_account_s_api_is_recorded_with_the_link(
    client: WorkerClient, auth: BetterAuthApi, organization_id: str
) -> None:
    """One organization v1, another v2: a mixed fleet, each read back as linked."""
    assert (await client.get_organization(organization_id)).stripe_connect_account_api is None
    someone = await auth.sign_up()
    other_org = await auth.create_organization(someone, name="Other")
    v1_account, v2_account = account_id(), account_id()

    v1 = await client.create_connect_account(organization_id=organization_id, account_id=v1_account)
    v2 = await client.create_connect_account(
        organization_id=other_org, account_id=v2_account, account_api="v2"
    )

    assert (
        v1.organization.stripe_connect_account_api,
        v2.organization.stripe_connect_account_api,
    ) == (
        "v1",
        "v2",
    )
    by_account = await client.get_organization_by_account(v2_account)
    assert by_account is not None
    assert by_account.stripe_connect_account_api == "v2"


async def test_concurrent_clicks_link_one_account(
    client: WorkerClient, organization_id: str
) -> None:
    results = await asyncio.gather(
        *(
            client.create_connect_account(organization_id=organization_id, account_id=account_id())
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    assert all(isinstance(r, AccountAlreadyLinked) for r in results if r not in created)


async def _walk(client: WorkerClient, **filters: Any) -> list[Organization]:
    """Every organization the filters pass, page by page."""
    found: list[Organization] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await client.list_organizations(cursor=cursor, **filters)
        found.extend(page.organizations)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("the pages never ended")


async def test_list_organizations_pages_through_every_organization_in_id_order(
    client: WorkerClient, auth: BetterAuthApi, owner: AuthUser
) -> None:
    made = [await auth.create_organization(owner, name=f"Listed {i}") for i in range(3)]
    ids = [organization.id for organization in await _walk(client, limit=2)]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert set(made) <= set(ids)
    whole = await client.list_organizations(limit=200)
    if whole.next_cursor is None:
        assert [organization.id for organization in whole.organizations] == ids


async def test_list_organizations_filters(client: WorkerClient, auth: BetterAuthApi) -> None:
    someone = await auth.sign_up()
    linked_id = await auth.create_organization(someone, name="Linked")
    unlinked_id = await auth.create_organization(someone, name="Unlinked")
    await client.create_connect_account(organization_id=linked_id, account_id=account_id())

    linked = await _walk(client, linked=True, limit=200)
    assert linked_id in {o.id for o in linked}
    assert unlinked_id not in {o.id for o in linked}
    assert all(o.stripe_connect_account_id is not None for o in linked)

    unlinked = await _walk(client, linked=False)
    assert unlinked_id in {o.id for o in unlinked}
    assert all(o.stripe_connect_account_id is None for o in unlinked)

    pending = await _walk(client, status="pending")
    assert linked_id in {o.id for o in pending}
    assert all(o.stripe_connect_status == "pending" for o in pending)

    not_started = await _walk(client, status="not_started", linked=False)
    assert [o.id for o in not_started] == [o.id for o in unlinked]


async def _fleet(client: WorkerClient, auth: BetterAuthApi) -> tuple[str, dict[str, str]]:
    """Organizations under a fresh name prefix, in the states reconcile tells apart; the
    prefix and their ids by what they are."""
    someone = await auth.sign_up()
    prefix = f"Fleet {uuid.uuid4().hex[:8]}"
    states = {
        "unlinked": None,
        "pending": ("pending", "details_submission", SYNCED - timedelta(days=1)),
        "due": ("active", "action_required", SYNCED - timedelta(days=20)),
        "fresh": ("active", "complete", SYNCED),
        "stale": ("active", "complete", SYNCED - timedelta(days=30)),
        "rejected": ("disabled", "rejected", SYNCED - timedelta(days=10)),
    }
    ids: dict[str, str] = {}
    for what, state in states.items():
        ids[what] = await auth.create_organization(someone, name=f"{prefix} {what}")
        if state is None:
            continue
        await client.create_connect_account(organization_id=ids[what], account_id=account_id())
        status, step, synced_at = state
        await client.update_organization(
            organization_id=ids[what],
            updates={"stripe_connect_status": status, "onboarding_step": step},
            synced_at=synced_at,
        )
    return prefix.lower(), ids


async def test_list_organizations_chooses_whom_reconcile_reads(
    client: WorkerClient, auth: BetterAuthApi
) -> None:
    prefix, ids = await _fleet(client, auth)

    async def walk(**where: Any) -> list[str]:
        return [
            o.id
            for o in await _walk(
                client, limit=1, order="synced_at", where=OrganizationFilter(name=prefix, **where)
            )
        ]

    # Not yet settled: the requirements due first (the older sync), then the pending one.
    assert await walk(unsettled=True) == [ids["due"], ids["pending"]]
    # Settled and not synced for a week, oldest first; the fresh one waits.
    week_ago = SYNCED - timedelta(days=7)
    assert await walk(unsettled=False, synced_before=week_ago) == [ids["stale"], ids["rejected"]]
    # Every linked account by last sync, newest first with the other order.
    newest_first = await _walk(
        client, order="-synced_at", where=OrganizationFilter(name=prefix, linked=True)
    )
    assert [o.id for o in newest_first] == [
        ids["fresh"],
        ids["pending"],
        ids["rejected"],
        ids["due"],
        ids["stale"],
    ]
    assert await walk(step="rejected") == [ids["rejected"]]


async def test_the_requirements_deadline_is_written_with_the_view_and_orders_the_due(
    client: WorkerClient, auth: BetterAuthApi
) -> None:
    """Migration 0009 through the client: the deadline goes with the view (a stale view does
    not overwrite it), and `order=deadline` reads the nearest first, none last."""
    someone = await auth.sign_up()
    prefix = f"Due {uuid.uuid4().hex[:8]}"
    deadlines = {
        "far": SYNCED + timedelta(days=30),
        "none": None,
        "near": SYNCED + timedelta(days=1),
        "mid": datetime(2026, 12, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # an offset
    }
    ids: dict[str, str] = {}
    for what, deadline in deadlines.items():
        ids[what] = await auth.create_organization(someone, name=f"{prefix} {what}")
        account = account_id()
        await client.create_connect_account(organization_id=ids[what], account_id=account)
        written = await client.update_organization(
            organization_id=ids[what],
            updates={
                "stripe_connect_status": "active",
                "onboarding_step": "action_required",
                "stripe_connect_requirements_deadline": deadline,
            },
            synced_at=SYNCED,
            expected_account_id=account,
        )
        assert written.applied
        assert written.organization.stripe_connect_requirements_deadline == deadline

    due = OrganizationFilter(name=prefix.lower(), step="action_required", linked=True)
    by_deadline = await _walk(client, limit=1, order="deadline", where=due)
    assert [o.id for o in by_deadline] == [ids["near"], ids["mid"], ids["far"], ids["none"]]

    stale = await client.update_organization(
        organization_id=ids["near"],
        updates={
            "onboarding_step": "action_required",
            "stripe_connect_requirements_deadline": None,
        },
        synced_at=SYNCED - timedelta(seconds=1),
    )
    assert not stale.applied
    held = await client.get_organization(ids["near"])
    assert held.stripe_connect_requirements_deadline == deadlines["near"]
    # Only with a view's synced_at: the Worker's 400 is the service's own fault.
    with pytest.raises(UpstreamUnavailable):
        await client.update_organization(
            organization_id=ids["near"], updates={"stripe_connect_requirements_deadline": None}
        )


async def test_count_organizations_counts_per_status_in_one_call(
    client: WorkerClient, auth: BetterAuthApi
) -> None:
    prefix, _ = await _fleet(client, auth)
    counts = await client.count_organizations(OrganizationFilter(name=prefix.upper()))
    assert counts.total == 6
    assert counts.by_status == {"not_started": 1, "pending": 1, "active": 3, "disabled": 1}
    unsettled = await client.count_organizations(OrganizationFilter(name=prefix, unsettled=True))
    assert (unsettled.total, unsettled.by_status["active"]) == (2, 1)
    everyone = await client.count_organizations()
    assert everyone.total >= 6
    assert sum(everyone.by_status.values()) == everyone.total


async def test_a_cursor_of_another_order_is_the_callers(
    client: WorkerClient, auth: BetterAuthApi
) -> None:
    prefix, _ = await _fleet(client, auth)
    first = await client.list_organizations(
        limit=1, order="synced_at", where=OrganizationFilter(name=prefix)
    )
    assert first.next_cursor is not None
    with pytest.raises(BadRequest) as refused:
        await client.list_organizations(cursor=first.next_cursor)
    assert refused.value.code == "invalid_cursor"


async def test_list_organizations_with_a_bad_limit_is_our_fault(client: WorkerClient) -> None:
    with pytest.raises(UpstreamUnavailable):
        await client.list_organizations(limit=0)


async def test_list_organizations_with_an_unknown_cursor_is_the_callers(
    client: WorkerClient,
) -> None:
    with pytest.raises(BadRequest) as refused:
        await client.list_organizations(cursor="not-a-cursor")
    assert refused.value.code == "invalid_cursor"


async def _deauthorized(client: WorkerClient, organization_id: str) -> str:
    """Links a fresh account to the organization, then records it deauthorized; the account."""
    old = account_id()
    await client.create_connect_account(organization_id=organization_id, account_id=old)
    deauthorized = await client.update_organization(
        organization_id=organization_id,
        updates={
            "stripe_connect_status": "disabled",
            "onboarding_step": "deauthorized",
            "onboarding_rejection_reason": "deauthorized",
        },
        synced_at=SYNCED + timedelta(days=1),
    )
    assert deauthorized.applied
    return old


async def test_replace_a_deauthorized_account(client: WorkerClient, organization_id: str) -> None:
    old = await _deauthorized(client, organization_id)
    new = account_id()
    replaced = await client.create_connect_account(
        organization_id=organization_id, account_id=new, replace_account_id=old
    )
    assert replaced.created
    assert replaced.organization.stripe_connect_account_id == new
    assert replaced.organization.stripe_connect_status == "pending"
    assert replaced.organization.onboarding_step == "details_submission"
    assert replaced.organization.onboarding_rejection_reason is None
    assert replaced.organization.stripe_connect_synced_at is None
    assert await client.get_organization_by_account(old) is None

    again = await client.create_connect_account(
        organization_id=organization_id, account_id=new, replace_account_id=old
    )
    assert not again.created

    with pytest.raises(AccountAlreadyLinked) as linked:
        await client.create_connect_account(
            organization_id=organization_id, account_id=account_id(), replace_account_id=old
        )
    assert linked.value.organization.stripe_connect_account_id == new

    with pytest.raises(NotDeauthorized) as not_deauthorized:
        await client.create_connect_account(
            organization_id=organization_id, account_id=account_id(), replace_account_id=new
        )
    assert not_deauthorized.value.organization.stripe_connect_account_id == new
    assert not_deauthorized.value.organization.onboarding_step == "details_submission"


async def test_replace_needs_a_link_and_a_free_account(
    client: WorkerClient, auth: BetterAuthApi, organization_id: str
) -> None:
    with pytest.raises(NotDeauthorized) as nothing_held:
        await client.create_connect_account(
            organization_id=organization_id,
            account_id=account_id(),
            replace_account_id=account_id(),
        )
    assert nothing_held.value.organization.stripe_connect_account_id is None

    old = await _deauthorized(client, organization_id)
    someone = await auth.sign_up()
    other = await auth.create_organization(someone, name="Holder")
    taken = account_id()
    await client.create_connect_account(organization_id=other, account_id=taken)
    with pytest.raises(AccountInUse):
        await client.create_connect_account(
            organization_id=organization_id, account_id=taken, replace_account_id=old
        )
    with pytest.raises(NotFound):
        await client.create_connect_account(
            organization_id=f"org_missing_{uuid.uuid4().hex}",
            account_id=account_id(),
            replace_account_id=old,
        )


async def test_concurrent_replacements_link_one_account(
    client: WorkerClient, organization_id: str
) -> None:
    old = await _deauthorized(client, organization_id)
    results = await asyncio.gather(
        *(
            client.create_connect_account(
                organization_id=organization_id, account_id=account_id(), replace_account_id=old
            )
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    losers = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, AccountAlreadyLinked) for r in losers)
    winner = created[0].organization.stripe_connect_account_id
    assert all(
        r.organization.stripe_connect_account_id == winner
        for r in losers
        if isinstance(r, AccountAlreadyLinked)
    )
    stored = await client.get_organization(organization_id)
    assert stored.stripe_connect_account_id == winner


async def test_every_request_the_client_sends_matches_the_contract(
    worker_stack: WorkerStack, owner: AuthUser, organization_id: str
) -> None:
    async with Recording() as recording:
        sent = recording.requests
        client = WorkerClient(
            recording, base_url=worker_stack.base_url, api_key=worker_stack.api_key
        )
        await client.verify_user_context(session_token=owner.token, organization_id=None)
        await client.verify_user_context(session_token=owner.token, organization_id=organization_id)
        await client.update_organization(
            organization_id=organization_id,
            updates={"stripe_connect_status": None, "onboarding_rejection_reason": None},
            synced_at=SYNCED,
        )
        await client.update_organization(
            organization_id=organization_id, updates={"platform_fee_percent": 7}
        )
        old = await _deauthorized(client, organization_id)
        new = account_id()
        await client.create_connect_account(
            organization_id=organization_id, account_id=new, replace_account_id=old
        )
        await client.update_organization(
            organization_id=organization_id,
            updates={"stripe_connect_status": "active"},
            synced_at=SYNCED,
            expected_account_id=new,
        )
        ref = {"organization_id": organization_id, "operation": "transfer", "key": "k-contract"}
        await client.claim_idempotency_key(**ref, fingerprint="fp", decision={"amount": 1})
        await client.complete_idempotency_key(**ref, stripe_object_id="tr_contract")
        await client.release_idempotency_key(**ref)
        recorded = await client.record_claim(
            organization_id=organization_id,
            amount=500,
            currency="usd",
            cause="manual",
            cause_id="k-contract",
            transfer_id="tr_contract",
        )
        await client.settle_claim(recorded.claim.id, key="trr_contract", amount=1, kind="reversal")
        await client.settle_claim(recorded.claim.id, key="dp_contract", amount=1, kind="waived")
        await client.release_claim_settlements(organization_id=organization_id, key="tr_none")
        await client.record_payout_outcome(
            organization_id=organization_id,
            payout_id="po_contract",
            outcome="failed",
            payout_created=SYNCED,
            failure_code="account_closed",
            failure_message="closed",
        )
        await client.record_payout_outcome(
            organization_id=organization_id,
            payout_id="po_contract_2",
            outcome="paid",
            payout_created=SYNCED,
        )

    posts = [r for r in sent if r.method == "POST"]
    assert len(posts) == 17
    for request in posts:
        path = request.url.path
        if not path.endswith("/claims/settlements/release"):
            path = re.sub(r"/claims/[^/]+/", "/claims/{id}/", path)
        validator = request_validator(path, "POST")
        body = json.loads(request.content)
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], f"{request.url.path}: {body}"


# -- expected_account_id and sticky deauthorization -------------------------------------


async def test_update_with_another_expected_account_is_not_applied(
    client: WorkerClient, organization_id: str
) -> None:
    held = account_id()
    await client.create_connect_account(organization_id=organization_id, account_id=held)
    refused = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at=SYNCED,
        expected_account_id=account_id(),
    )
    assert not refused.applied
    assert refused.organization.stripe_connect_status == "pending"
    assert refused.organization.stripe_connect_synced_at is None

    applied = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at=SYNCED,
        expected_account_id=held,
    )
    assert applied.applied
    assert applied.organization.onboarding_step == "complete"


async def test_a_view_of_the_replaced_account_does_not_land_on_the_new_one(
    client: WorkerClient, organization_id: str
) -> None:
    old = await _deauthorized(client, organization_id)
    new = account_id()
    await client.create_connect_account(
        organization_id=organization_id, account_id=new, replace_account_id=old
    )
    late = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "disabled", "onboarding_step": "rejected"},
        synced_at=SYNCED + timedelta(days=2),
        expected_account_id=old,
    )
    assert not late.applied
    assert late.organization.stripe_connect_account_id == new
    assert late.organization.onboarding_step == "details_submission"


async def test_a_deauthorized_organization_stays_so_until_relinked(
    client: WorkerClient, organization_id: str
) -> None:
    old = await _deauthorized(client, organization_id)
    revived = await client.update_organization(
        organization_id=organization_id,
        updates={"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at=SYNCED + timedelta(days=5),
        expected_account_id=old,
    )
    assert not revived.applied
    assert revived.organization.onboarding_step == "deauthorized"

    fee = await client.update_organization(
        organization_id=organization_id, updates={"platform_fee_percent": 3}
    )
    assert fee.applied
    assert fee.organization.onboarding_step == "deauthorized"


# -- idempotency records ----------------------------------------------------------------


def _ref(organization_id: str, operation: str = "transfer") -> dict[str, str]:
    return {"organization_id": organization_id, "operation": operation, "key": uuid.uuid4().hex}


async def test_claim_then_claim_again(client: WorkerClient, organization_id: str) -> None:
    ref = _ref(organization_id)
    decision = {"amount": 1250, "currency": "usd", "destination": "acct_x"}
    first = await client.claim_idempotency_key(**ref, fingerprint="fp-1", decision=decision)
    assert first.created
    assert first.record.decision == decision
    assert first.record.operation == "transfer"
    assert first.record.stripe_object_id is None
    assert first.record.completed_at is None
    assert first.record.created_at.tzinfo is not None

    second = await client.claim_idempotency_key(**ref, fingerprint="fp-2", decision={})
    assert not second.created
    assert second.record == first.record


async def test_concurrent_claims_create_once(client: WorkerClient, organization_id: str) -> None:
    ref = _ref(organization_id, "payout")
    results = await asyncio.gather(
        *(
            client.claim_idempotency_key(**ref, fingerprint=f"fp-{i}", decision={"i": i})
            for i in range(6)
        )
    )
    assert sum(r.created for r in results) == 1
    assert all(r.record == results[0].record for r in results)


async def test_claim_for_an_unknown_organization_is_not_found(client: WorkerClient) -> None:
    with pytest.raises(NotFound):
        await client.claim_idempotency_key(
            **_ref(f"org_missing_{uuid.uuid4().hex}"), fingerprint="fp", decision={}
        )


async def test_complete_records_the_object_once(client: WorkerClient, organization_id: str) -> None:
    ref = _ref(organization_id, "reversal")
    await client.claim_idempotency_key(**ref, fingerprint="fp", decision={})
    record = await client.complete_idempotency_key(**ref, stripe_object_id="trr_1")
    assert record.stripe_object_id == "trr_1"
    assert record.completed_at is not None
    assert await client.complete_idempotency_key(**ref, stripe_object_id="trr_1") == record

    with pytest.raises(IdempotencyMismatch) as mismatch:
        await client.complete_idempotency_key(**ref, stripe_object_id="trr_2")
    assert mismatch.value.status == 409
    assert mismatch.value.code == "idempotency_conflict"
    assert mismatch.value.record == record


async def test_complete_without_a_record_is_not_found(
    client: WorkerClient, organization_id: str
) -> None:
    with pytest.raises(NotFound):
        await client.complete_idempotency_key(**_ref(organization_id), stripe_object_id="tr_1")


async def test_release_only_an_uncompleted_record(
    client: WorkerClient, organization_id: str
) -> None:
    ref = _ref(organization_id)
    assert await client.release_idempotency_key(**ref) is False
    await client.claim_idempotency_key(**ref, fingerprint="fp", decision={})
    assert await client.release_idempotency_key(**ref) is True
    again = await client.claim_idempotency_key(**ref, fingerprint="fp-2", decision={})
    assert again.created
    await client.complete_idempotency_key(**ref, stripe_object_id="tr_9")
    assert await client.release_idempotency_key(**ref) is False
    kept = await client.claim_idempotency_key(**ref, fingerprint="fp-3", decision={})
    assert kept.record.stripe_object_id == "tr_9"


# -- claims ------------------------------------------------------------------------------


def _currency() -> str:
    """A currency code no other test uses, so this test's totals are its own claims'."""
    return "".join(chr(ord("a") + b % 26) for b in uuid.uuid4().bytes[:3])


async def _record(
    client: WorkerClient, organization_id: str, amount: int, currency: str = "usd"
) -> Any:
    return await client.record_claim(
        organization_id=organization_id,
        amount=amount,
        currency=currency,
        cause="refund",
        cause_id=f"re_{uuid.uuid4().hex[:12]}",
        transfer_id=f"tr_{uuid.uuid4().hex[:12]}",
    )


async def test_record_claim_once_per_cause_and_transfer(
    client: WorkerClient, organization_id: str
) -> None:
    ref = {"cause": "dispute", "cause_id": "dp_once", "transfer_id": "tr_once"}
    first = await client.record_claim(
        organization_id=organization_id, amount=1200, currency="usd", **ref
    )
    again = await client.record_claim(
        organization_id=organization_id, amount=99, currency="usd", **ref
    )
    assert first.created is True
    assert first.claim.id.startswith("clm_")
    assert (first.claim.settled, first.claim.open, first.claim.settlements) == (0, 1200, [])
    assert again.created is False
    assert again.claim == first.claim


async def test_record_claim_for_an_unknown_organization_is_not_found(client: WorkerClient) -> None:
    with pytest.raises(NotFound):
        await _record(client, f"org_missing_{uuid.uuid4().hex}", 1)


async def test_settle_claim_once_per_key_and_never_beyond_it(
    client: WorkerClient, organization_id: str
) -> None:
    claim = (await _record(client, organization_id, 1000)).claim
    applied = await client.settle_claim(claim.id, key="tr_net_1", amount=700, kind="transfer")
    repeated = await client.settle_claim(claim.id, key="tr_net_1", amount=700, kind="transfer")
    assert applied.applied is True
    assert (applied.claim.settled, applied.claim.open) == (700, 300)
    assert repeated.applied is False
    assert repeated.claim == applied.claim

    with pytest.raises(ClaimExceeded) as exc:
        await client.settle_claim(claim.id, key="trr_2", amount=301, kind="reversal")
    assert exc.value.claim == applied.claim

    last = await client.settle_claim(claim.id, key="trr_2", amount=300, kind="reversal")
    assert (last.claim.open, [s.key for s in last.claim.settlements]) == (0, ["tr_net_1", "trr_2"])

    with pytest.raises(NotFound):
        await client.settle_claim("clm_missing", key="k", amount=1, kind="transfer")


async def test_concurrent_settlements_never_exceed_the_claim(
    client: WorkerClient, organization_id: str
) -> None:
    claim = (await _record(client, organization_id, 1000)).claim
    answers = await asyncio.gather(
        *(
            client.settle_claim(claim.id, key=f"tr_race_{i}", amount=250, kind="transfer")
            for i in range(7)
        ),
        return_exceptions=True,
    )
    applied = [a for a in answers if not isinstance(a, BaseException) and a.applied]
    assert len(applied) == 4
    assert all(isinstance(a, ClaimExceeded) for a in answers if a not in applied)
    after = await client.list_claims(organization_id=organization_id, state="all")
    held = next(c for c in after.claims if c.id == claim.id)
    assert (held.settled, len(held.settlements)) == (1000, 4)


async def test_list_claims_first_in_first_out_with_totals(
    client: WorkerClient, organization_id: str
) -> None:
    currency = _currency()
    ids = [(await _record(client, organization_id, n, currency)).claim.id for n in (10, 20, 30)]
    await client.settle_claim(ids[0], key="tr_all", amount=10, kind="transfer")
    await client.settle_claim(ids[1], key="tr_some", amount=5, kind="transfer")

    open_ = await client.list_claims(organization_id=organization_id, currency=currency)
    assert [c.id for c in open_.claims] == ids[1:]
    assert [(t.currency, t.open) for t in open_.totals] == [(currency, 45)]
    every = await client.list_claims(
        organization_id=organization_id, state="all", currency=currency
    )
    assert [c.id for c in every.claims] == ids


async def test_list_claims_of_every_organization_page_by_page(
    client: WorkerClient, auth: BetterAuthApi, owner: AuthUser, organization_id: str
) -> None:
    currency = _currency()
    other = await auth.create_organization(owner, name="Other")
    mine = [
        (await _record(client, org, 7, currency)).claim.id
        for org in (organization_id, other, organization_id)
    ]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        page = await client.list_claims(
            organization_id=None, currency=currency, limit=2, cursor=cursor
        )
        assert [(t.currency, t.open) for t in page.totals] == [(currency, 21)]
        seen += [c.id for c in page.claims]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == mine

    with pytest.raises(BadRequest) as exc:
        await client.list_claims(organization_id=None, cursor="nope!")
    assert exc.value.code == "invalid_cursor"


# -- payout outcomes ---------------------------------------------------------------------


async def test_record_payout_outcome_shows_a_failure_until_a_later_payout_is_paid(
    client: WorkerClient, organization_id: str
) -> None:
    failed = await client.record_payout_outcome(
        organization_id=organization_id,
        payout_id="po_fail",
        outcome="failed",
        payout_created=datetime(2026, 11, 26, 11, 0, tzinfo=timezone(timedelta(hours=1))),
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    )
    expected = PayoutFailure(
        payout_id="po_fail",
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
        payout_created=payout_outcomes.T1,
    )
    assert failed.payout_failure == expected
    assert (await client.get_organization(organization_id)).payout_failure == expected
    # The same event again changes nothing; an older payout paid late leaves it.
    again = await client.record_payout_outcome(
        organization_id=organization_id,
        payout_id="po_fail",
        outcome="failed",
        payout_created=payout_outcomes.T1,
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    )
    assert again == failed
    older = await client.record_payout_outcome(
        organization_id=organization_id,
        payout_id="po_old",
        outcome="paid",
        payout_created=payout_outcomes.T1 - timedelta(days=1),
    )
    assert older.payout_failure == expected
    cleared = await client.record_payout_outcome(
        organization_id=organization_id,
        payout_id="po_next",
        outcome="paid",
        payout_created=payout_outcomes.T2,
    )
    assert cleared.payout_failure is None
    assert (await client.get_organization(organization_id)).payout_failure is None


@pytest.mark.parametrize(
    ("events", "shown"),
    [(events, shown) for _, events, shown in payout_outcomes.SCENARIOS],
    ids=[name for name, _, _ in payout_outcomes.SCENARIOS],
)
async def test_record_payout_outcome_in_any_order(
    client: WorkerClient,
    auth: BetterAuthApi,
    owner: AuthUser,
    events: list[payout_outcomes.Event],
    shown: str | None,
) -> None:
    organization_id = await auth.create_organization(owner, name="Payouts")
    failure = await payout_outcomes.run(client, organization_id, events)
    assert (failure.payout_id if failure else None) == shown


async def test_record_payout_outcome_for_an_unknown_organization_is_not_found(
    client: WorkerClient,
) -> None:
    with pytest.raises(NotFound):
        await client.record_payout_outcome(
            organization_id="org_missing",
            payout_id="po_1",
            outcome="failed",
            payout_created=SYNCED,
        )


async def test_record_payout_outcome_sends_no_failure_for_a_paid_payout(
    client: WorkerClient, organization_id: str
) -> None:
    # The Worker refuses a paid payout with a failure code (400); the client sends none.
    organization = await client.record_payout_outcome(
        organization_id=organization_id,
        payout_id="po_paid",
        outcome="paid",
        payout_created=SYNCED,
        failure_code="account_closed",
    )
    assert organization.payout_failure is None


# -- releasing a refused transfer's claim settlements ------------------------------------


async def test_release_claim_settlements_undoes_only_that_transfers_settlements(
    client: WorkerClient, auth: BetterAuthApi, owner: AuthUser, organization_id: str
) -> None:
    first = (await _record(client, organization_id, 300)).claim
    second = (await _record(client, organization_id, 1000)).claim
    other_org = await auth.create_organization(owner, name="Other")
    theirs = (await _record(client, other_org, 500)).claim
    await client.settle_claim(first.id, key="tr_refused", amount=300, kind="transfer")
    await client.settle_claim(second.id, key="tr_refused", amount=200, kind="transfer")
    await client.settle_claim(second.id, key="trr_kept", amount=100, kind="reversal")
    await client.settle_claim(theirs.id, key="tr_refused", amount=50, kind="transfer")

    released = await client.release_claim_settlements(
        organization_id=organization_id, key="tr_refused"
    )
    assert released == 2
    assert (
        await client.release_claim_settlements(organization_id=organization_id, key="tr_refused")
        == 0
    )

    after = await client.list_claims(organization_id=organization_id, state="all")
    by_id = {c.id: c for c in after.claims}
    assert (by_id[first.id].settled, by_id[first.id].settlements) == (0, [])
    assert by_id[second.id].settled == 100
    assert [(s.key, s.kind) for s in by_id[second.id].settlements] == [("trr_kept", "reversal")]
    others = await client.list_claims(organization_id=other_org, state="all")
    assert [c.settled for c in others.claims] == [50]


async def test_a_waived_settlement_is_never_released(
    client: WorkerClient, organization_id: str
) -> None:
    claim = (await _record(client, organization_id, 400)).claim
    waived = await client.settle_claim(claim.id, key="dp_won", amount=400, kind="waived")
    assert (waived.applied, waived.claim.open) == (True, 0)
    assert [s.kind for s in waived.claim.settlements] == ["waived"]
    assert (
        await client.release_claim_settlements(organization_id=organization_id, key="dp_won") == 0
    )
