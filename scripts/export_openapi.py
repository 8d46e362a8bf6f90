#!/usr/bin/env python3
"""Print (or write) the Connect backend's OpenAPI document, built in process.

frontend/ generates its backendClient types from it (`npm run generate:types` in frontend/).
The settings are placeholders: the schema does not depend on them, and no client is opened.

    .venv/bin/python scripts/export_openapi.py [--out frontend/openapi/connect-backend.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connect_backend.app import create_app
from connect_backend.settings import Settings


def openapi() -> dict[str, Any]:
    """The service's OpenAPI document, as /openapi.json serves it."""
    settings = Settings(
        stripe_secret_key=SecretStr("sk_test_openapi_export"),
        stripe_webhook_secret=SecretStr("whsec_openapi_export"),
        worker_base_url="http://worker.invalid",
        worker_api_key=SecretStr("openapi-export"),
        frontend_url="http://frontend.invalid",
        environment="development",
        _env_file=None,  # pydantic-settings: read no .env file
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    args = parser.parse_args()
    text = json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
