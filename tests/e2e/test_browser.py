"""The demo frontend in a real browser: Debian's Chromium driven by playwright-core
(frontend/e2e/run.mjs) against the whole stack, the frontend on Vite included.

Screenshots go to a temporary folder; with UPDATE_SCREENSHOTS=1 to docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from devstack.stack import ROOT, Stack
from tests.support.stack import better_auth_api

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
RUNNER = ROOT / "frontend" / "e2e" / "run.mjs"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def test_owner_onboards_is_paid_pays_out_and_sees_the_history_admin_runs_the_console(
    browser_stack: Stack, tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: ./scripts/bootstrap installs chromium"
    node = shutil.which("node")
    assert node, "node is not on PATH"
    c = browser_stack.config
    people = {
        "owner": ("owner@acme.test", "owner-password-123", "Olive Owner"),
        "member": ("member@acme.test", "member-password-123", "Max Member"),
        "admin": ("admin@platform.test", "admin-password-123", "Platform Admin"),
    }
    with better_auth_api(c.worker_url) as auth:
        signed_up = {role: auth.sign_up(*person) for role, person in people.items()}
        browser_stack.d1("UPDATE user SET role = 'admin' WHERE email = 'admin@platform.test'")
        org_id = auth.create_organization(signed_up["owner"], "Acme", "acme")
        auth.add_member(signed_up["owner"], signed_up["member"], org_id, "member")

    screenshots = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "shots"
    journey = {
        "frontend": c.frontend_url,
        "worker": c.worker_url,
        "backend": c.service_url,
        "sim": c.sim_url,
        "stripeKey": c.stripe_secret_key,
        "orgId": org_id,
        "screenshots": str(screenshots),
        **{role: {"email": p[0], "password": p[1]} for role, p in people.items()},
    }
    result = subprocess.run(  # noqa: S603 - our own script
        [node, str(RUNNER), json.dumps(journey)],
        cwd=ROOT / "frontend",
        env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, (
        f"{result.stdout}\n{result.stderr}\nfrontend log:\n{browser_stack.frontend.tail()}\n"
        f"screenshots in {screenshots}"
    )
    for name in (
        "01-sign-in",
        "02-not-started",
        "03-stripe-onboarding",
        "04-pending",
        "05-active",
        "09-history",
        "10-schedule-read-back",
        "11-failed-payout",
        "12-console",
        "13-transfer-confirmation",
        "14-transfer-sent",
        "15-transfer-arrived",
        "16-console-not-available",
        "17-payout-failure-banner",
        "18-refund-and-dispute",
        "19-console-reverse-confirmation",
        "20-console-reversed",
        "21-console-claim",
        "22-owner-reversal-and-claim",
        "23-console-transfer-settles-claim",
    ):
        assert (screenshots / f"{name}.png").stat().st_size > 0

    # What the clicks did, as "Stripe" and D1 hold it: one account, active, paid out twice (the
    # first payout failed), the fee the console set, the console's transfer and the one from a
    # charge; a reversal for the refund and the console's reversal; the console's claim, part
    # of it settled by the next transfer.
    headers = {"X-Internal-Api-Key": c.internal_api_key}
    organization = httpx.get(
        f"{c.worker_url}/api/internal/organization/{org_id}", headers=headers, timeout=10.0
    ).json()["organization"]
    assert organization["stripe_connect_status"] == "active"
    assert organization["platform_fee_percent"] == 12.5
    account_id = organization["stripe_connect_account_id"]
    payouts = httpx.get(
        f"{c.sim_url}/_sim/events",
        params={"type": "payout.created", "account": account_id},
        timeout=10.0,
    ).json()
    # $90.00 (failed, back in the balance), then all of $142.50 less the $10.00 reversed.
    assert sorted(e["data"]["object"]["amount"] for e in payouts["data"]) == [9_000, 13_250]
    failed = httpx.get(
        f"{c.sim_url}/_sim/events",
        params={"type": "payout.failed", "account": account_id},
        timeout=10.0,
    ).json()
    assert [e["data"]["object"]["failure_code"] for e in failed["data"]] == ["account_closed"]
    transfers = httpx.get(
        f"{c.sim_url}/_sim/events", params={"type": "transfer.created"}, timeout=10.0
    ).json()
    sent = [
        e["data"]["object"]["amount"]
        for e in transfers["data"]
        if e["data"]["object"]["destination"] == account_id
    ]
    # $100.00 at 10 % through the API, $50.00 at 12.5 % through the console, $20.00 at 12.5 %
    # from a charge, and the $8.75 a won dispute of that charge gave back.
    assert sorted(sent) == [875, 1_750, 4_375, 9_000]
    reversed_events = httpx.get(
        f"{c.sim_url}/_sim/events", params={"type": "transfer.reversed"}, timeout=10.0
    ).json()
    reversals = {
        (e["data"]["object"]["id"], e["data"]["object"]["amount_reversed"])
        for e in reversed_events["data"]
        if e["data"]["object"]["destination"] == account_id
    }
    # The refund's share of the $17.50 transfer, then the dispute's (in all $17.50), and the
    # console's $10.00 of the $43.75 one.
    assert sorted(amount for _, amount in reversals) == [875, 1_000, 1_750]
    claims = httpx.get(
        f"{c.worker_url}/api/internal/claims",
        params={"organization_id": org_id, "state": "all"},
        headers=headers,
        timeout=10.0,
    ).json()
    assert [(x["amount"], x["open"], x["cause"]) for x in claims["claims"]] == [
        (3_375, 1_625, "manual")
    ]
    # The console's $20.00 transfer sent nothing: its $17.50 net settled part of the claim.
    assert [(s["amount"], s["kind"]) for s in claims["claims"][0]["settlements"]] == [
        (1_750, "transfer")
    ]
    assert claims["totals"] == [{"currency": "usd", "open": 1_625}]
    account = httpx.get(f"{c.sim_url}/_sim/accounts/{account_id}", timeout=10.0).json()
    assert account["account"]["settings"]["payouts"]["schedule"]["interval"] == "weekly"
