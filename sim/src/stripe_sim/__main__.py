"""``python -m stripe_sim``: run the simulator (a test double for Stripe) with uvicorn.

Every flag has an environment variable (``STRIPE_SIM_<FLAG>``, e.g. ``STRIPE_SIM_PORT``);
flags win over the environment. Without ``--connect-webhook-url``, events of connected
accounts go to the ``--webhook-url`` endpoint too (signed with its secret), so one URL and
one secret receive everything; give the Connect flags to split them as Stripe does.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import uvicorn

from stripe_sim.app import create_app
from stripe_sim.config import SimConfig, WebhookEndpointConfig


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"STRIPE_SIM_{name}", default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sim",
        description="Stripe Connect simulator (a test double, not Stripe).",
    )
    add = parser.add_argument
    add("--host", default=_env("HOST", "127.0.0.1"))
    add("--port", type=int, default=int(_env("PORT", "12111") or 12111))
    add("--public-url", default=_env("PUBLIC_URL"), help="base of hosted-page URLs")
    add("--webhook-url", default=_env("WEBHOOK_URL"), help="platform webhook endpoint")
    add("--webhook-secret", default=_env("WEBHOOK_SECRET"), help="its whsec_ secret")
    add("--connect-webhook-url", default=_env("CONNECT_WEBHOOK_URL"))
    add("--connect-webhook-secret", default=_env("CONNECT_WEBHOOK_SECRET"))
    add("--latency-ms", type=float, default=float(_env("LATENCY_MS", "0") or 0))
    add("--seed", type=int, default=int(s) if (s := _env("SEED")) else None)
    add(
        "--webhook-retry-base",
        type=float,
        default=float(_env("WEBHOOK_RETRY_BASE", "1.0") or 1.0),
        help="seconds before the first redelivery (doubles each time)",
    )
    add(
        "--webhook-max-attempts",
        type=int,
        default=int(_env("WEBHOOK_MAX_ATTEMPTS", "8") or 8),
    )
    add(
        "--webhook-workers",
        type=int,
        default=int(_env("WEBHOOK_WORKERS", "8") or 8),
        help="deliveries on the wire at once",
    )
    add(
        "--api-key",
        action="append",
        default=[k for k in (_env("API_KEYS") or "").split(",") if k] or None,
        help="accept only these keys (repeatable); default: any sk_/rk_ test or live key",
    )
    add("--log-level", default=_env("LOG_LEVEL", "warning"))
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Turn parsed flags into a SimConfig; a URL without its secret is an error."""
    webhooks = []
    connect_url, connect_secret = args.connect_webhook_url, args.connect_webhook_secret
    if not connect_url:
        connect_url, connect_secret = args.webhook_url, args.webhook_secret
    for url, secret, connect in (
        (args.webhook_url, args.webhook_secret, False),
        (connect_url, connect_secret, True),
    ):
        if url:
            if not secret:
                flag = "--connect-webhook-secret" if connect else "--webhook-secret"
                raise SystemExit(f"stripe_sim: {flag} is required with its webhook URL")
            webhooks.append(WebhookEndpointConfig(url=url, secret=secret, connect=connect))
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
    public_url = args.public_url or f"http://{host}:{args.port}"
    return SimConfig(
        public_url=public_url,
        webhooks=webhooks,
        api_keys=args.api_key,
        latency_ms=args.latency_ms,
        seed=args.seed,
        webhook_retry_base_s=args.webhook_retry_base,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_workers=args.webhook_workers,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    app = create_app(config_from_args(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
