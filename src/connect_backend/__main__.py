"""`python -m connect_backend`: start the server from the environment's settings."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from connect_backend import log
from connect_backend.app import create_app
from connect_backend.settings import Settings


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
    """Validate the settings, then serve the app with uvicorn on HOST:PORT."""
    settings = _settings_or_exit()
    log.configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # our own JSON line per request replaces it
        proxy_headers=True,
        forwarded_allow_ips="*",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
