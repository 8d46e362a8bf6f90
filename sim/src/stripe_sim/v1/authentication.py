"""The caller's API key, from ``Authorization``; its prefix decides the mode."""

from __future__ import annotations

import base64
import binascii

from stripe_sim.errors import invalid_api_key, missing_api_key

KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


def authenticate(authorization: str | None, api_keys: frozenset[str] | None) -> str:
    """The API key from ``Authorization`` (Bearer, or Basic with the key as user).

    ``api_keys``: the keys accepted; None accepts any key with a secret or restricted prefix.
    """
    if not authorization:
        raise missing_api_key()
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        try:
            credentials = base64.b64decode(credentials).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_api_key(credentials) from None
    elif scheme.lower() != "bearer":
        raise invalid_api_key(authorization)
    if not credentials:
        raise missing_api_key()
    if not credentials.startswith(KEY_PREFIXES) or len(credentials) <= len("sk_test_"):
        raise invalid_api_key(credentials)
    if api_keys is not None and credentials not in api_keys:
        raise invalid_api_key(credentials)
    return credentials


def is_live(key: str) -> bool:
    """Live keys see live objects, test keys test objects."""
    return key.startswith(("sk_live_", "rk_live_"))
