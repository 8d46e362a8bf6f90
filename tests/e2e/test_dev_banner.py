"""`./scripts/dev` for a newcomer (issue 23): the banner's walk-through, run in bash exactly as
`devstack.journey.script` gives it to the banner, against a stack of its own seeded the way
`./scripts/dev` seeds it (onboard, complete onboarding and fund the platform on the
simulator, transfer, pay out, the history, reconcile with the stack's settings); and
`./scripts/dev --orgs N`'s fleet, which D1 holds as the simulator's truth."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from devstack import fleet, journey
from devstack.__main__ import seed_demo
from devstack.stack import Stack, StackConfig
from tests.support.stack import better_auth_api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: reconcile walks every organization D1 holds."""
    config = StackConfig(state_dir=tmp_path_factory.mktemp("dev-banner"))
    with Stack(config) as running:
        yield running


def _outputs(stdout: str) -> list[str]:
    """The walk's output lines, without empty ones."""
    return [line for line in stdout.splitlines() if line.strip()]


def test_the_banners_journey_works_as_printed(stack: Stack) -> None:
    with better_auth_api(stack.config.worker_url) as auth:
        people, org_id = seed_demo(stack, auth, stack.config.state_dir / "seeded-org")
    env_file = stack.config.state_dir / journey.ENV_FILE
    journey.write_env_file(env_file, stack.service_env())
    demo = journey.Demo(
        org_id=org_id, owner_token=people["owner"].token, admin_token=people["admin"].token
    )
    walk = journey.script(stack.config, demo, env_file)

    done = subprocess.run(  # noqa: S603 - our own script, as the banner prints it
        ["bash", "-e", "-o", "pipefail", "-c", walk],  # noqa: S607 - bash from PATH
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr + done.stdout
    lines = _outputs(done.stdout)
    answers = [json.loads(line) for line in lines if line.startswith("{")]
    onboarded, completed, refreshed, funded, sent, paid_out, transfers, payouts = answers
    assert onboarded["url"].startswith(stack.config.sim_url)
    assert completed["account"]["id"] == onboarded["account_id"]
    assert (refreshed["status"], refreshed["onboarding_step"]) == ("active", "complete")
    assert funded["available"][0]["amount"] >= 100000
    assert (sent["gross_amount"], sent["fee_amount"], sent["transfer_amount"]) == (
        10000,
        1000,
        9000,
    )
    assert (paid_out["amount"], paid_out["currency"]) == (9000, "usd")
    assert [t["transfer_id"] for t in transfers["data"]] == [sent["transfer_id"]]
    assert [p["payout_id"] for p in payouts["data"]] == [paid_out["payout_id"]]
    # Reconcile ran with the stack's settings from the file the banner names: Acme, checked.
    assert lines[-1] == "reconcile: 1 checked, 0 changed, 0 failed"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"


def test_dev_orgs_seeds_a_fleet_d1_holds_as_the_simulators_truth(stack: Stack) -> None:
    made = fleet.seed_fleet(stack, 60, seed=7)

    assert sum(made.values()) == 60
    assert {"not_started", "pending", "active", "disabled"} <= set(made)
    # Every seeded account as D1 holds it is what the simulator says: reconcile changes none.
    run = stack.reconcile("--all", "--concurrency", "8")
    assert run.returncode == 0, run.stderr
    checked = int(run.stdout.split(": ", 1)[1].split(" checked")[0])
    assert checked >= 60 - made["not_started"]
    assert ", 0 changed, 0 failed" in run.stdout.splitlines()[0]
    # The console's counts see them, from one Worker call.
    with httpx.Client(base_url=stack.config.worker_url) as worker:
        counted = worker.get(
            "/api/internal/organization-counts",
            params={"name": "acme"},
            headers={"X-Internal-Api-Key": stack.config.internal_api_key},
        )
    assert counted.status_code == 200, counted.text
    named_acme = sum(1 for i in range(60) if fleet.name_of(i).startswith("Acme"))
    assert counted.json()["total"] >= named_acme
