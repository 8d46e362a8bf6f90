"""`python -m connect_backend`: serve the app with uvicorn, `WEB_CONCURRENCY` processes.

uvicorn's own supervisor runs the worker processes (no second server to configure): they
share the listening socket, a worker that dies is replaced, and on SIGTERM (Railway's, on
every deploy) or SIGINT each worker stops accepting, finishes the requests in flight (up to
`GRACEFUL_SECONDS`) and exits. Each worker builds the app itself from the environment
(`connect_backend.app:from_environment`); the settings are checked here first, once.
"""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from connect_backend import log
from connect_backend.settings import Settings

GRACEFUL_SECONDS = 10
"""How long a stopping worker waits for its requests in flight (Railway waits longer)."""
KEEP_ALIVE_SECONDS = 65
"""How long an idle connection stays open: longer than a proxy in front keeps its idle
connections to us (60 s is common), so the proxy, not the service, closes them and never
sends a request on a connection the service is closing (uvicorn's own default is 5 s)."""


def _settings_or_exit() -> Settings:
    try:
        return Settings()  # read from the environment
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: "
            + ("is required" if e["type"] == "missing" else e["msg"])
            for e in exc.errors()
        )
        print(f"connect_backend: invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


def main() -> None:
    """Validate the settings, then serve the app on HOST:PORT with WEB_CONCURRENCY workers."""
    settings = _settings_or_exit()
    log.configure(settings.log_level)
    workers = settings.web_concurrency
    if workers > 1 and settings.redis_url is None:
        log.warning(
            "service.state_per_process",
            processes=workers,
            per_process=settings.per_process_state(),
            hint="set REDIS_URL to share them across processes and replicas",
        )
    log.info("service.starting", processes=workers, shared_state=settings.redis_url is not None)
    uvicorn.run(
        "connect_backend.app:from_environment",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # our own JSON line per request replaces it
        proxy_headers=True,
        forwarded_allow_ips="*",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
