"""The service's WorkerClient against the real Worker: every endpoint, success and errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connect_backend.errors import (
    AccountAlreadyLinked,
    AccountInUse,
    InvalidSession,
    NotAMember,
    NotFound,
    UpstreamUnavailable,
)
from connect_backend.worker import WorkerClient
from tests.support.contract import request_validator
from tests.support.worker_stack import AuthUser, BetterAuthApi, WorkerStack

pytestmark = pytest.mark.worker

SYNCED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def account_id() -> str:
    return f"acct_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(http: httpx.AsyncClient, worker_stack: WorkerStack) -> WorkerClient:
    return WorkerClient(http, base_url=worker_stack.base_url, api_key=worker_stack.api_key)


@pytest.fixture
async def owner(auth: BetterAuthApi) -> AuthUser:
    return await auth.sign_up(name="Owner")


@pytest.fixture
async def organization_id(auth: BetterAuthApi, owner: AuthUser) -> str:
    return await auth.create_organization(owner, name="Acme")


async def test_health(client: WorkerClient) -> None:
    await client.health(request_id="client-health")


async def test_health_with_a_wrong_key_raises(
    http: httpx.AsyncClient, worker_stack: WorkerStack
) -> None:
    wrong = WorkerClient(http, base_url=worker_stack.base_url, api_key="wrong-key")
    with pytest.raises(UpstreamUnavailable):
        await wrong.health()


async def test_the_rotated_key_works(http: httpx.AsyncClient, worker_stack: WorkerStack) -> None:
    rotated = WorkerClient(http, base_url=worker_stack.base_url, api_key=worker_stack.api_keys[1])
    await rotated.health()


async def test_verify_user_context_owner(
    client: WorkerClient, owner: AuthUser, organization_id: str
) -> None:
    context = await client.verify_user_context(
        session_token=owner.signed_token, organization_id=organization_id, request_id="r-1"
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


async def test_every_request_the_client_sends_matches_the_contract(
    worker_stack: WorkerStack, owner: AuthUser, organization_id: str
) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        client = WorkerClient(http, base_url=worker_stack.base_url, api_key=worker_stack.api_key)
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
        await client.create_connect_account(
            organization_id=organization_id, account_id=account_id()
        )

    posts = [r for r in sent if r.method == "POST"]
    assert len(posts) == 5
    for request in posts:
        validator = request_validator(request.url.path, "POST")
        body = json.loads(request.content)
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], f"{request.url.path}: {body}"
