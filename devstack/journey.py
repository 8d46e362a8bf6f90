"""The `./scripts/dev` banner's walk-through: a newcomer's whole journey on the local stack as
bash commands that work as printed, pasted in order (tests/e2e/test_journey_banner.py runs
them exactly as the banner prints them).

The simulator's platform balance starts empty, so the walk funds it before the transfer (a
transfer first fails with `balance_insufficient`); reconcile is run with the stack's own
settings from the file the banner names (`service.env` in the state folder), never exported by
hand.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.stack import ROOT, StackConfig

ENV_FILE = "service.env"
"""The stack's service settings, in the state folder, as `KEY='value'` lines bash can read."""


@dataclass(frozen=True, slots=True)
class Demo:
    """Who the walk-through acts as: the demo organization, its owner's and the platform
    admin's session tokens."""

    org_id: str
    owner_token: str
    admin_token: str


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """The service's settings as `KEY='value'` lines (readable by the owner only: they hold
    the stack's keys)."""
    path.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items())))
    path.chmod(0o600)


def steps(config: StackConfig, demo: Demo, env_file: Path) -> list[tuple[str, str]]:
    """Each step of the journey: what it does (a comment) and its bash commands."""
    python = shlex.quote(str(Path(sys.executable)))
    curl = "curl -sS -w '\\n'"  # each answer on a line of its own
    json_body = '-H "Content-Type: application/json" -d'
    org = '"{\\"organization_id\\": \\"$ORG\\"}"'
    return [
        (
            "Who and where (the tokens are this run's sessions)",
            f"SERVICE={config.service_url}; SIM={config.sim_url}; ORG={demo.org_id}\n"
            f"OWNER='Authorization: Bearer {demo.owner_token}'\n"
            f"ADMIN='Authorization: Bearer {demo.admin_token}'",
        ),
        (
            "1. Onboard Acme as its owner: its Express account and an onboarding link",
            f'{curl} -X POST "$SERVICE/api/connect/onboard" -H "$OWNER" {json_body} {org}',
        ),
        (
            "2. Complete onboarding on the simulator (what the link's form does), then read "
            "the status from Stripe",
            'ACCOUNT=$(curl -sS "$SERVICE/api/connect/status/$ORG" -H "$OWNER" | '
            "python3 -c 'import json, sys; print(json.load(sys.stdin)[\"account_id\"])')\n"
            f'{curl} -X POST "$SIM/_sim/accounts/$ACCOUNT/onboarding" {json_body} '
            '\'{"outcome": "complete"}\'\n'
            f'{curl} "$SERVICE/api/connect/status/$ORG?refresh=true" -H "$OWNER"',
        ),
        (
            "3. Fund the platform on the simulator: its balance starts empty (a transfer "
            "before this fails with balance_insufficient)",
            f'{curl} -X POST "$SIM/_sim/platform/fund" {json_body} '
            '\'{"amount": 100000, "currency": "usd"}\'',
        ),
        (
            "4. Send Acme 100.00 USD as the platform admin (its fee is kept; a new "
            "Idempotency-Key each time you paste this)",
            f'{curl} -X POST "$SERVICE/api/connect/transfer" -H "$ADMIN" '
            '-H "Idempotency-Key: demo-transfer-$(date +%s%N)" '
            f'{json_body} "{{\\"organization_id\\": \\"$ORG\\", \\"amount\\": 10000, '
            '\\"currency\\": \\"usd\\"}"',
        ),
        (
            "5. Pay it all out as the owner",
            f'{curl} -X POST "$SERVICE/api/connect/payout" -H "$OWNER" '
            '-H "Idempotency-Key: demo-payout-$(date +%s%N)" '
            f'{json_body} "{{\\"organization_id\\": \\"$ORG\\", \\"currency\\": \\"usd\\"}}"',
        ),
        (
            "6. The history: transfers received and payouts",
            f'{curl} "$SERVICE/api/connect/transfers/$ORG" -H "$OWNER"\n'
            f'{curl} "$SERVICE/api/connect/payouts/$ORG" -H "$OWNER"',
        ),
        (
            "7. Reconcile D1 with the simulator, with this stack's settings (every account)",
            f"(set -a && . {shlex.quote(str(env_file))} && set +a && cd {shlex.quote(str(ROOT))} "
            f"&& {python} -m connect_backend reconcile --all)",
        ),
    ]


def script(config: StackConfig, demo: Demo, env_file: Path) -> str:
    """The walk-through as the banner prints it: comments and commands, in order."""
    return "\n".join(f"# {what}\n{commands}" for what, commands in steps(config, demo, env_file))
