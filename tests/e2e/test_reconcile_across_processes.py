"""`python -m connect_backend reconcile` as a real process against the whole stack: webhooks
switched off at the simulator, accounts changed there (completed, requirements due, rejected,
deauthorized), then one run with `--all` brings D1 to Stripe's truth for every account, and a
second run changes nothing; a run without `--all` reads only the accounts not yet settled
(the others were just synced). A dry run before writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connect_backend.domain import Onboarding
from devstack.stack import BetterAuth, Stack, StackConfig
from devstack.truth import stored, truth
from tests.support.stack import auth, better_auth_api, d1_org, settle

pytestmark = pytest.mark.e2e

# What happens at the simulator to each organization's account while webhooks are off.
CHANGES = {
    "completed": ("onboarding", {"outcome": "complete"}),
    "requirements-due": ("onboarding", {"outcome": "due"}),
    "rejected": ("onboarding", {"outcome": "reject", "reason": "rejected.fraud"}),
    "deauthorized": ("deauthorize", {}),
    "untouched": None,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: a run walks every organization D1 holds, so the summary is this
    module's alone."""
    config = StackConfig(state_dir=tmp_path_factory.mktemp("reconcile"))
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def better_auth(stack: Stack) -> Iterator[BetterAuth]:
    with better_auth_api(stack.config.worker_url) as auth_api:
        yield auth_api


async def onboarded_orgs(
    better_auth: BetterAuth, service: httpx.AsyncClient, sim: httpx.AsyncClient
) -> dict[str, tuple[str, str]]:
    """An organization per change, each with a Stripe account; the deauthorized one is active
    first (a deauthorization only matters to an account that was in use). By name: the
    organization's id and its account's."""
    made: dict[str, tuple[str, str]] = {}
    for n, name in enumerate(CHANGES):
        owner = better_auth.sign_up(f"owner{n}@reconcile.test", "owner-password-123", name)
        org_id = better_auth.create_organization(owner, f"Reconciled {n}", f"reconciled-{n}")
        answer = await service.post(
            "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
        )
        assert answer.status_code == 200, answer.text
        made[name] = (org_id, answer.json()["account_id"])
    _, active = made["deauthorized"]
    done = await sim.post(f"/_sim/accounts/{active}/onboarding", json={"outcome": "complete"})
    assert done.status_code == 200, done.text
    await settle(sim)  # D1 is up to date before webhooks go quiet
    return made


async def stripes_truth(sim: httpx.AsyncClient, account_id: str) -> Onboarding:
    entry = await sim.get(f"/_sim/accounts/{account_id}")
    assert entry.status_code == 200, entry.text
    return truth(entry.json())


def shown(onboarding: Onboarding) -> str:
    """As the summary shows a status."""
    text = f"{onboarding.status or 'none'}/{onboarding.step}"
    reason = onboarding.rejection_reason
    return f"{text} ({reason})" if reason and reason != onboarding.step else text


async def test_one_run_brings_d1_to_stripes_truth_and_a_second_changes_nothing(
    stack: Stack,
    better_auth: BetterAuth,
    service: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    internal: httpx.AsyncClient,
) -> None:
    orgs = await onboarded_orgs(better_auth, service, sim)
    for name, (org_id, account_id) in orgs.items():
        assert stored(await d1_org(internal, org_id)) == await stripes_truth(sim, account_id), name

    await sim.post("/_sim/config", json={"webhooks_enabled": False})
    try:
        for name, change in CHANGES.items():
            if change is not None:
                helper, body = change
                _, account_id = orgs[name]
                moved = await sim.post(f"/_sim/accounts/{account_id}/{helper}", json=body)
                assert moved.status_code == 200, moved.text
        before = {
            name: stored(await d1_org(internal, org_id)) for name, (org_id, _) in orgs.items()
        }
        after = {
            name: await stripes_truth(sim, account_id) for name, (_, account_id) in orgs.items()
        }
        stale = sorted(name for name in orgs if before[name] != after[name])
        assert stale == sorted(name for name, change in CHANGES.items() if change is not None)
        expected_changes = sorted(
            f"  {orgs[name][0]} {orgs[name][1]}: {shown(before[name])} -> {shown(after[name])}"
            for name in stale
        )

        dry = stack.reconcile("--dry-run", "--all")

        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines() == [
            f"reconcile (dry run, nothing written): 5 checked, {len(stale)} would change, 0 failed",
            "would change:",
            *expected_changes,
        ]
        for name, (org_id, _) in orgs.items():
            assert stored(await d1_org(internal, org_id)) == before[name], name

        first = stack.reconcile("--concurrency", "2", "--all")

        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [
            f"reconcile: 5 checked, {len(stale)} changed, 0 failed",
            "changed:",
            *expected_changes,
        ]
        for name, (org_id, _) in orgs.items():
            assert stored(await d1_org(internal, org_id)) == after[name], name

        second = stack.reconcile("--all")

        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines() == ["reconcile: 5 checked, 0 changed, 0 failed"]

        unsettled = sorted(
            n
            for n in orgs
            if after[n].status == "pending" or after[n].step in ("action_required", "under_review")
        )
        assert unsettled == ["requirements-due", "untouched"]
        bounded = stack.reconcile("--max-reads", "1")

        assert bounded.returncode == 0, bounded.stderr
        assert bounded.stdout.splitlines() == [
            "reconcile: 1 checked, 0 changed, 0 failed",
            "stopped at --max-reads 1: read 1 with requirements due, 0 other not yet settled, "
            "0 settled, not synced for 7 days",
            "left for the next run: 0 with requirements due, 1 other not yet settled, "
            "0 settled, not synced for 7 days",
        ]
        third = stack.reconcile()

        assert third.returncode == 0, third.stderr
        assert third.stdout.splitlines() == ["reconcile: 2 checked, 0 changed, 0 failed"]
    finally:
        await sim.post("/_sim/config", json={"webhooks_enabled": True})

    # The logs went to stderr, one JSON object a line.
    assert '"event":"reconcile.done"' in first.stderr


async def test_a_run_that_cannot_reach_stripe_says_so_and_exits_1(
    stack: Stack, better_auth: BetterAuth, service: httpx.AsyncClient, sim: httpx.AsyncClient
) -> None:
    owner = better_auth.sign_up("unreachable@reconcile.test", "owner-password-123", "Unreachable")
    org_id = better_auth.create_organization(owner, "Unreachable", "unreachable")
    answer = await service.post(
        "/api/connect/onboard", json={"organization_id": org_id}, headers=auth(owner)
    )
    assert answer.status_code == 200, answer.text
    account_id = answer.json()["account_id"]
    broken = await sim.post(
        "/_sim/config",
        json={"faults": [{"path_prefix": f"/v1/accounts/{account_id}", "method": "GET"}]},
    )
    assert broken.status_code == 200, broken.text
    try:
        run = stack.reconcile()
    finally:
        await sim.post("/_sim/config", json={"faults": []})

    assert run.returncode == 1, run.stdout
    lines = run.stdout.splitlines()
    assert lines[0].endswith(", 1 failed")
    assert lines[-2:] == ["failed:", f"  {org_id} {account_id}: stripe_error"]
