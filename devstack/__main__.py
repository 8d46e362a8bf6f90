"""`./scripts/dev`: run the whole system locally, seeded with a demo, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from devstack import fleet, journey
from devstack.stack import ROOT, BetterAuth, Member, Stack, StackConfig

PASSWORD = "demo-password-123"  # noqa: S105 - a local demo account's password
PEOPLE = {"admin": "Platform Admin", "owner": "Olive Owner", "member": "Max Member"}


def seed_demo(stack: Stack, auth: BetterAuth, marker: Path) -> tuple[dict[str, Member], str]:
    """Sign the demo people up (first run) or in (later runs); return them and the org id."""
    emails = {role: f"{role}@example.com" for role in PEOPLE}
    if marker.exists():
        people = {role: auth.sign_in(email, PASSWORD) for role, email in emails.items()}
        return people, marker.read_text().strip()
    people = {role: auth.sign_up(emails[role], PASSWORD, name) for role, name in PEOPLE.items()}
    stack.d1(f"UPDATE user SET role = 'admin' WHERE email = '{emails['admin']}'")  # noqa: S608
    org_id = auth.create_organization(people["owner"], "Acme", "acme")
    auth.add_member(people["owner"], people["member"], org_id, "member")
    marker.write_text(org_id)
    return people, org_id


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/dev", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".state" / "dev")
    parser.add_argument("--fresh", action="store_true", help="wipe the local D1 first")
    parser.add_argument("--worker-port", type=int, default=8787)
    parser.add_argument("--sim-port", type=int, default=12111)
    parser.add_argument("--service-port", type=int, default=8000)
    parser.add_argument("--frontend-port", type=int, default=5173)
    parser.add_argument("--no-frontend", action="store_true", help="do not start the demo app")
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        metavar="N",
        help="run the service as N replicas behind HAProxy (on --service-port), sharing Redis",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes per service process or replica (WEB_CONCURRENCY; default 1)",
    )
    parser.add_argument(
        "--orgs",
        type=int,
        default=0,
        metavar="N",
        help="also seed N organizations in mixed states (accounts at the simulator, rows in "
        "D1), to try the console and reconcile at size",
    )
    args = parser.parse_args()
    if args.orgs < 0:
        parser.error("--orgs must be 0 or more")
    if args.fresh:
        shutil.rmtree(args.state_dir, ignore_errors=True)

    real_key = os.environ.get("STRIPE_SECRET_KEY", "")
    config = StackConfig(
        state_dir=args.state_dir,
        worker_port=args.worker_port,
        sim_port=args.sim_port,
        service_port=args.service_port,
        frontend_url=f"http://localhost:{args.frontend_port}",
        run_frontend=not args.no_frontend,
        replicas=args.replicas,
        workers=args.workers,
    )
    if real_key.startswith(("sk_test_", "rk_test_")):
        secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
        if not secret:
            sys.exit("With STRIPE_SECRET_KEY set, set STRIPE_WEBHOOK_SECRET too (stripe listen).")
        config.use_simulator = False
        config.stripe_secret_key = real_key
        config.webhook_secret = secret

    stack = Stack(config)
    backend = (
        f"{config.replicas} Connect backend replicas, Redis, HAProxy"
        if config.replicas
        else "the Connect backend"
    )
    print(f"Starting the Worker, the Stripe simulator, {backend} and the frontend …", flush=True)
    with stack:
        auth = BetterAuth(config.worker_url)
        try:
            people, org_id = seed_demo(stack, auth, args.state_dir / "seeded-org")
        finally:
            auth.close()
        c = config
        env_file = args.state_dir / journey.ENV_FILE
        journey.write_env_file(env_file, stack.service_env())
        seeded = ""
        if args.orgs and c.use_simulator:
            print(f"Seeding {args.orgs} organizations …", flush=True)
            made = fleet.seed_fleet(stack, args.orgs)
            shown = ", ".join(f"{status} {count}" for status, count in sorted(made.items()))
            seeded = f"\nSeeded {args.orgs} organizations ({fleet.ID_PREFIX}…): {shown}.\n"
        elif args.orgs:
            seeded = "\n--orgs needs the simulator: nothing seeded with a real Stripe key.\n"
        demo = journey.Demo(
            org_id=org_id, owner_token=people["owner"].token, admin_token=people["admin"].token
        )
        walk = (
            journey.script(c, demo, env_file)
            if c.use_simulator
            else "(With Stripe test mode, onboard through the frontend: the walk-through below "
            "uses the simulator's helpers.)"
        )
        stripe_line = (
            f"Stripe simulator   {c.sim_url}   (test double; /_sim/ helpers)"
            if c.use_simulator
            else "Stripe             test mode (your sk_test_ key)"
        )
        frontend_line = (
            f"Frontend (demo)    {c.frontend_url}/settings/payments   (sign in as below)"
            if c.run_frontend
            else "Frontend           not started (--no-frontend)"
        )
        backend_lines = [f"Connect backend    {c.service_url}   (API docs: {c.service_url}/docs)"]
        if c.replicas:
            backend_lines = [
                f"Connect backend    {c.service_url}   (HAProxy over {c.replicas} replicas; "
                f"API docs: {c.service_url}/docs)",
                *(
                    f"  {replica.name:<16} {stack.replica_url(index)}"
                    for index, replica in enumerate(stack.replicas)
                ),
                f"  Redis            {c.redis_url}   (shared by the replicas)",
            ]
        backend_line = "\n  ".join(backend_lines)
        print(
            f"""
The system is running (logs in {args.state_dir / "logs"}):
  {frontend_line}
  {backend_line}
  Worker             {c.worker_url}   (Better Auth at /api/auth, internal API at /api/internal)
  {stripe_line}

Demo organization "Acme" ({org_id}); every password is {PASSWORD}:
  admin@example.com   platform admin
  owner@example.com   owner of Acme
  member@example.com  member of Acme

{seeded}
Sign in to get a session token:
  curl -s {c.worker_url}/api/auth/sign-in/email -H 'Content-Type: application/json' \\
       -d '{{"email": "owner@example.com", "password": "{PASSWORD}"}}'

The journey, copy-paste in order into bash (first run, or after --fresh: the simulator
forgets its accounts when it stops, D1 does not). The service's settings, for commands of your
own: {env_file}

{walk}

Press Ctrl-C to stop everything.""",
            flush=True,
        )
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        while not stopped.wait(1.0):
            for process in stack.parts:
                if not process.running:
                    print(f"{process.name} exited; its log:\n{process.tail()}", file=sys.stderr)
                    stopped.set()
        print("Stopping …", flush=True)


if __name__ == "__main__":
    main()
