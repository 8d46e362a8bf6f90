"""The internal API over real HTTP against the real Worker (workerd, local D1)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.worker_stack import (
    TEST_API_KEYS,
    AuthUser,
    BetterAuthApi,
    InternalApi,
    WorkerStack,
)

pytestmark = pytest.mark.worker


def account_id() -> str:
    return f"acct_{uuid.uuid4().hex[:16]}"


def missing_id() -> str:
    return f"org_missing_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def owner(auth: BetterAuthApi) -> AuthUser:
    return await auth.sign_up(name="Owner")


@pytest.fixture
async def organization_id(auth: BetterAuthApi, owner: AuthUser) -> str:
    return await auth.create_organization(owner, name="Acme")


# -- the API key ------------------------------------------------------------------------


async def test_missing_key_is_401_unauthorized(internal: InternalApi) -> None:
    answer = await internal.health(key=None)
    assert answer.status == 401
    assert answer.body["error"]["code"] == "unauthorized"


async def test_wrong_key_is_401_unauthorized(internal: InternalApi) -> None:
    answer = await internal.health(key="not-a-key")
    assert answer.status == 401
    assert answer.body["error"]["code"] == "unauthorized"


async def test_both_keys_of_a_rotation_are_accepted(internal: InternalApi) -> None:
    for key in TEST_API_KEYS:
        answer = await internal.health(key=key)
        assert answer.status == 200
        assert answer.body == {"status": "ok", "d1": "ok"}


async def test_wrong_key_is_401_before_the_body_is_read(internal: InternalApi) -> None:
    answer = await internal.call("POST", "/update-organization", content="{not json", key="nope")
    assert answer.status == 401
    assert answer.body["error"]["code"] == "unauthorized"


async def test_request_id_is_echoed(internal: InternalApi) -> None:
    answer = await internal.call("GET", "/health", headers={"X-Request-ID": "e2e-req-42"})
    assert answer.headers["X-Request-ID"] == "e2e-req-42"


# -- verify-user-context ----------------------------------------------------------------


async def test_verify_raw_and_signed_tokens(internal: InternalApi, owner: AuthUser) -> None:
    for token in (owner.token, owner.signed_token):
        answer = await internal.verify_user_context(token)
        assert answer.status == 200
        assert answer.body["user"] == {
            "id": owner.id,
            "email": owner.email,
            "name": "Owner",
            "role": "user",
        }
        assert answer.body["organization"] is None
        assert answer.body["member_role"] is None


async def test_verify_unknown_token_is_401_invalid_session(internal: InternalApi) -> None:
    answer = await internal.verify_user_context(uuid.uuid4().hex)
    assert answer.status == 401
    assert answer.body["error"]["code"] == "invalid_session"


async def test_verify_expired_session_is_401(
    internal: InternalApi, auth: BetterAuthApi, worker_stack: WorkerStack
) -> None:
    user = await auth.sign_up()
    await worker_stack.expire_session(user.token)
    answer = await internal.verify_user_context(user.signed_token)
    assert answer.status == 401
    assert answer.body["error"]["code"] == "invalid_session"


async def test_verify_signed_out_session_is_401(internal: InternalApi, auth: BetterAuthApi) -> None:
    user = await auth.sign_up()
    await auth.sign_out(user.token)
    answer = await internal.verify_user_context(user.token)
    assert answer.status == 401
    assert answer.body["error"]["code"] == "invalid_session"


async def test_verify_members_get_their_roles(
    internal: InternalApi, auth: BetterAuthApi, owner: AuthUser, organization_id: str
) -> None:
    admin = await auth.sign_up(name="Admin")
    member = await auth.sign_up(name="Member")
    await auth.add_member(organization_id=organization_id, inviter=owner, user=admin, role="admin")
    await auth.add_member(
        organization_id=organization_id, inviter=owner, user=member, role="member"
    )
    for user, role in ((owner, "owner"), (admin, "admin"), (member, "member")):
        answer = await internal.verify_user_context(user.token, organization_id)
        assert answer.status == 200
        assert answer.body["member_role"] == role
        assert answer.body["organization"]["id"] == organization_id
        assert answer.body["organization"]["platform_fee_percent"] == 10
        assert answer.body["organization"]["onboarding_step"] == "account_creation"


async def test_verify_non_member_and_unknown_org_are_the_same_403(
    internal: InternalApi, auth: BetterAuthApi, organization_id: str
) -> None:
    stranger = await auth.sign_up()
    not_member = await internal.verify_user_context(stranger.token, organization_id)
    unknown = await internal.verify_user_context(stranger.token, missing_id())
    assert not_member.status == unknown.status == 403
    assert not_member.body == unknown.body
    assert unknown.body["error"]["code"] == "not_a_member"


async def test_verify_platform_admin_passes_for_existing_orgs_only(
    internal: InternalApi, auth: BetterAuthApi, worker_stack: WorkerStack, organization_id: str
) -> None:
    platform = await auth.sign_up(name="Platform")
    await worker_stack.make_platform_admin(platform.id)
    existing = await internal.verify_user_context(platform.token, organization_id)
    assert existing.status == 200
    assert existing.body["user"]["role"] == "admin"
    assert existing.body["member_role"] is None
    assert existing.body["organization"]["id"] == organization_id
    missing = await internal.verify_user_context(platform.token, missing_id())
    assert missing.status == 403
    assert missing.body["error"]["code"] == "not_a_member"


async def test_verify_invalid_body_is_400_naming_the_field(internal: InternalApi) -> None:
    answer = await internal.call("POST", "/verify-user-context", json={"organization_id": None})
    assert answer.status == 400
    assert answer.body["error"]["code"] == "invalid_request"
    assert '"session_token"' in answer.body["error"]["message"]


# -- organization reads -----------------------------------------------------------------


async def test_organization_by_id_and_404(internal: InternalApi, organization_id: str) -> None:
    answer = await internal.organization(organization_id)
    assert answer.status == 200
    assert answer.body["organization"]["stripe_connect_account_id"] is None
    missing = await internal.organization(missing_id())
    assert missing.status == 404
    assert missing.body["error"]["code"] == "not_found"


async def test_organization_by_account_and_404(internal: InternalApi, organization_id: str) -> None:
    account = account_id()
    assert (await internal.organization_by_account(account)).status == 404
    await internal.create_connect_account(organization_id, account)
    answer = await internal.organization_by_account(account)
    assert answer.status == 200
    assert answer.body["organization"]["id"] == organization_id


# -- update-organization ----------------------------------------------------------------


async def test_update_applies_and_orders_by_synced_at(
    internal: InternalApi, organization_id: str
) -> None:
    first = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "platform_fee_percent": 12.5},
        synced_at="2026-11-26T10:00:00.000Z",
    )
    assert first.status == 200
    assert first.body["applied"] is True
    assert first.body["organization"]["stripe_connect_synced_at"] == "2026-11-26T10:00:00.000Z"

    stale = await internal.update_organization(
        organization_id, {"stripe_connect_status": "disabled"}, synced_at="2026-11-26T09:00:00Z"
    )
    assert stale.body["applied"] is False
    assert stale.body["organization"] == first.body["organization"]

    newer = await internal.update_organization(
        organization_id,
        {"onboarding_step": "complete", "onboarding_rejection_reason": None},
        synced_at="2026-11-26T11:00:00.000Z",
    )
    assert newer.body["applied"] is True
    assert newer.body["organization"]["onboarding_step"] == "complete"
    assert newer.body["organization"]["platform_fee_percent"] == 12.5


async def test_update_unknown_org_is_404(internal: InternalApi) -> None:
    answer = await internal.update_organization(missing_id(), {"platform_fee_percent": 5})
    assert answer.status == 404


async def test_update_out_of_range_fee_is_400(internal: InternalApi, organization_id: str) -> None:
    answer = await internal.update_organization(organization_id, {"platform_fee_percent": 100.5})
    assert answer.status == 400
    assert '"updates.platform_fee_percent"' in answer.body["error"]["message"]


async def test_concurrent_updates_with_one_synced_at_have_one_winner(
    internal: InternalApi, organization_id: str
) -> None:
    answers = await asyncio.gather(
        *(
            internal.update_organization(
                organization_id,
                {"onboarding_rejection_reason": f"writer-{i}"},
                synced_at="2026-12-01T00:00:00.000Z",
            )
            for i in range(6)
        )
    )
    winners = [a for a in answers if a.body["applied"]]
    assert len(winners) == 1
    stored = await internal.organization(organization_id)
    assert stored.body["organization"] == winners[0].body["organization"]


async def test_update_with_expected_account_id_applies_only_to_that_account(
    internal: InternalApi, organization_id: str
) -> None:
    held = account_id()
    await internal.create_connect_account(organization_id, held)
    other = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at="2026-11-26T10:00:00.000Z",
        expected_account_id=account_id(),
    )
    assert other.status == 200
    assert other.body["applied"] is False
    assert other.body["organization"]["stripe_connect_status"] == "pending"
    assert other.body["organization"]["stripe_connect_synced_at"] is None

    same = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at="2026-11-26T10:00:00.000Z",
        expected_account_id=held,
    )
    assert same.body["applied"] is True
    assert same.body["organization"]["stripe_connect_status"] == "active"


async def test_deauthorization_is_left_only_by_a_replacement_link(
    internal: InternalApi, organization_id: str
) -> None:
    old = account_id()
    await internal.create_connect_account(organization_id, old)
    gone = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "disabled", "onboarding_step": "deauthorized"},
        synced_at="2026-11-26T10:00:00.000Z",
    )
    assert gone.body["applied"] is True

    # A newer view of the same account cannot bring it back.
    back = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at="2026-11-26T11:00:00.000Z",
        expected_account_id=old,
    )
    assert back.body["applied"] is False
    assert back.body["organization"]["onboarding_step"] == "deauthorized"

    new = account_id()
    relinked = await internal.create_connect_account(organization_id, new, replace_account_id=old)
    assert relinked.body["organization"]["onboarding_step"] == "details_submission"
    # The old account's late view lands nowhere; the new one's does.
    late = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at="2026-11-26T12:00:00.000Z",
        expected_account_id=old,
    )
    assert late.body["applied"] is False
    fresh = await internal.update_organization(
        organization_id,
        {"stripe_connect_status": "active", "onboarding_step": "complete"},
        synced_at="2026-11-26T09:00:00.000Z",
        expected_account_id=new,
    )
    assert fresh.body["applied"] is True
    assert fresh.body["organization"]["onboarding_step"] == "complete"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/update-organization", {"updates": {"platform_fee_percent": 1}}, "organization_id"),
        (
            "/update-organization",
            {"organization_id": "o", "updates": {"onboarding_step": "done"}},
            "updates.onboarding_step",
        ),
        ("/create-connect-account", {"organization_id": "o"}, "stripe_connect_account_id"),
        ("/verify-user-context", {"session_token": ""}, "session_token"),
        (
            "/idempotency-keys/claim",
            {"organization_id": "o", "operation": "refund", "key": "k", "fingerprint": "f"},
            "operation",
        ),
    ],
)
async def test_a_400_names_the_refused_field_in_param(
    internal: InternalApi, path: str, body: dict[str, object], param: str
) -> None:
    answer = await internal.call("POST", path, json=body)
    assert answer.status == 400
    assert answer.body["error"]["code"] == "invalid_request"
    assert answer.body["error"]["param"] == param
    assert f'"{param}"' in answer.body["error"]["message"]


async def test_a_400_for_a_body_that_is_not_json_names_body(internal: InternalApi) -> None:
    answer = await internal.call("POST", "/update-organization", content="{nope")
    assert answer.status == 400
    assert answer.body["error"]["param"] == "body"


async def test_a_400_for_a_query_parameter_names_it(internal: InternalApi) -> None:
    answer = await internal.call("GET", "/organizations?cursor=nope!", template="/organizations")
    assert answer.status == 400
    assert answer.body["error"]["param"] == "cursor"
    repeated = await internal.call(
        "GET", "/organizations?limit=1&limit=2", template="/organizations"
    )
    assert repeated.body["error"]["param"] == "limit"


# -- idempotency keys -------------------------------------------------------------------


async def test_idempotency_key_claim_complete_release(
    internal: InternalApi, organization_id: str
) -> None:
    ref = {"organization_id": organization_id, "operation": "payout", "key": uuid.uuid4().hex}
    claimed = await internal.idempotency_key(
        "claim", {**ref, "fingerprint": "fp", "decision": {"amount": 500, "currency": "usd"}}
    )
    assert claimed.status == 200
    assert claimed.body["created"] is True
    assert claimed.body["record"]["decision"] == {"amount": 500, "currency": "usd"}
    assert claimed.body["record"]["stripe_object_id"] is None

    completed = await internal.idempotency_key("complete", {**ref, "stripe_object_id": "po_1"})
    assert completed.status == 200
    assert completed.body["record"]["stripe_object_id"] == "po_1"
    assert completed.body["record"]["completed_at"] is not None

    other = await internal.idempotency_key("complete", {**ref, "stripe_object_id": "po_2"})
    assert other.status == 409
    assert other.body["error"]["code"] == "idempotency_mismatch"
    assert other.body["record"] == completed.body["record"]

    kept = await internal.idempotency_key("release", ref)
    assert kept.body == {"released": False}
    again = await internal.idempotency_key("claim", {**ref, "fingerprint": "fp2", "decision": {}})
    assert again.body == {"record": completed.body["record"], "created": False}


async def test_idempotency_key_release_frees_an_uncompleted_key(
    internal: InternalApi, organization_id: str
) -> None:
    ref = {"organization_id": organization_id, "operation": "transfer", "key": uuid.uuid4().hex}
    await internal.idempotency_key("claim", {**ref, "fingerprint": "fp", "decision": {}})
    assert (await internal.idempotency_key("release", ref)).body == {"released": True}
    assert (await internal.idempotency_key("release", ref)).body == {"released": False}
    missing = await internal.idempotency_key("complete", {**ref, "stripe_object_id": "tr_1"})
    assert missing.status == 404


async def test_concurrent_claims_of_one_key_create_it_once(
    internal: InternalApi, organization_id: str
) -> None:
    ref = {"organization_id": organization_id, "operation": "reversal", "key": uuid.uuid4().hex}
    answers = await asyncio.gather(
        *(
            internal.idempotency_key("claim", {**ref, "fingerprint": f"fp-{i}", "decision": {}})
            for i in range(8)
        )
    )
    assert [a.status for a in answers] == [200] * 8
    assert sum(a.body["created"] for a in answers) == 1
    assert len({a.body["record"]["fingerprint"] for a in answers}) == 1


async def test_idempotency_key_claim_for_an_unknown_org_is_404(internal: InternalApi) -> None:
    answer = await internal.idempotency_key(
        "claim",
        {
            "organization_id": missing_id(),
            "operation": "transfer",
            "key": "k",
            "fingerprint": "f",
            "decision": {},
        },
    )
    assert answer.status == 404
    assert answer.body["error"]["code"] == "not_found"


# -- claims ------------------------------------------------------------------------------


async def test_claims_over_http(internal: InternalApi, organization_id: str) -> None:
    body = {
        "organization_id": organization_id,
        "amount": 800,
        "currency": "usd",
        "cause": "refund",
        "cause_id": f"re_{uuid.uuid4().hex}",
        "transfer_id": "tr_1",
    }
    recorded = await internal.call("POST", "/claims", json=body)
    assert recorded.status == 200
    assert recorded.body["created"] is True
    claim_id = recorded.body["claim"]["id"]
    settlements = f"/claims/{claim_id}/settlements"
    template = "/claims/{id}/settlements"

    answers = await asyncio.gather(
        *(
            internal.call(
                "POST",
                settlements,
                json={"key": f"tr_{i}", "amount": 300, "kind": "transfer"},
                template=template,
            )
            for i in range(5)
        )
    )
    assert sorted(a.status for a in answers) == [200, 200, 409, 409, 409]
    assert all(a.body["error"]["code"] == "claim_exceeded" for a in answers if a.status == 409)

    listed = await internal.call(
        "GET", f"/claims?organization_id={organization_id}&state=all", template="/claims"
    )
    assert [c["settled"] for c in listed.body["claims"] if c["id"] == claim_id] == [600]

    missing = await internal.call(
        "POST",
        "/claims/clm_missing/settlements",
        json={"key": "k", "amount": 1, "kind": "reversal"},
        template=template,
    )
    assert missing.status == 404
    unknown = await internal.call("POST", "/claims", json={**body, "organization_id": missing_id()})
    assert unknown.status == 404


# -- create-connect-account -------------------------------------------------------------


async def test_create_connect_account_compare_and_set(
    internal: InternalApi, auth: BetterAuthApi, organization_id: str
) -> None:
    account = account_id()
    created = await internal.create_connect_account(organization_id, account)
    assert created.status == 200
    assert created.body["created"] is True
    assert created.body["organization"]["stripe_connect_status"] == "pending"
    assert created.body["organization"]["onboarding_step"] == "details_submission"

    again = await internal.create_connect_account(organization_id, account)
    assert again.status == 200
    assert again.body["created"] is False

    other = await internal.create_connect_account(organization_id, account_id())
    assert other.status == 409
    assert other.body["error"]["code"] == "already_linked"
    assert other.body["organization"]["stripe_connect_account_id"] == account

    someone = await auth.sign_up()
    second_org = await auth.create_organization(someone, name="Other")
    in_use = await internal.create_connect_account(second_org, account)
    assert in_use.status == 409
    assert in_use.body["error"]["code"] == "account_in_use"

    missing = await internal.create_connect_account(missing_id(), account_id())
    assert missing.status == 404


async def test_concurrent_links_have_one_winner(
    internal: InternalApi, organization_id: str
) -> None:
    answers = await asyncio.gather(
        *(internal.create_connect_account(organization_id, account_id()) for _ in range(6))
    )
    winners = [a for a in answers if a.status == 200]
    assert len(winners) == 1
    linked = winners[0].body["organization"]["stripe_connect_account_id"]
    assert all(
        a.body["error"]["code"] == "already_linked"
        and a.body["organization"]["stripe_connect_account_id"] == linked
        for a in answers
        if a.status != 200
    )
    stored = await internal.organization(organization_id)
    assert stored.body["organization"]["stripe_connect_account_id"] == linked


async def test_health_over_http(http: httpx.AsyncClient, worker_stack: WorkerStack) -> None:
    response = await http.get(
        f"{worker_stack.base_url}/api/internal/health",
        headers={"X-Internal-Api-Key": worker_stack.api_keys[1]},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "d1": "ok"}
