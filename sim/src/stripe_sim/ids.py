"""Identifiers shaped like Stripe's: a type prefix and base-62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_chars(length: int) -> str:
    """Return `length` random base-62 characters."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """Return an id such as ``tr_1Pgc7BB7WZ01zgkWVJfE40RX`` (prefix, underscore, characters)."""
    return f"{prefix}_{random_chars(length)}"


def account_id() -> str:
    """Connected account ids carry 16 characters: ``acct_1PgafTB7WZ01zgkW``."""
    return new_id("acct", 16)


def request_id() -> str:
    """Request ids carry 14 characters: ``req_atLCs0gF97o2sq``."""
    return new_id("req", 14)
