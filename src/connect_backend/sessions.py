"""The session cache: successful session checks, reused for a short time per (token, org).

Who the caller is and their role only, never the organization's data (read fresh on every
call); failures are never cached; no entry outlives the session's own `expires_at`; the token
itself is never kept, only a digest of it. Money routes never use it (`auth.Requirement`).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from connect_backend import metrics
from connect_backend.domain import MemberRole, User

_HITS = metrics.SESSION_CACHE.labels("hit")
_MISSES = metrics.SESSION_CACHE.labels("miss")


@dataclass(frozen=True, slots=True)
class Verified:
    """A successful session check and when it stops counting."""

    user: User
    member_role: MemberRole | None
    expires: float  # Unix time


class SessionCache:
    """A bounded, time-limited cache of successful session checks."""

    def __init__(self, *, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], Verified] = OrderedDict()

    @staticmethod
    def _key(token: str, organization_id: str) -> tuple[str, str]:
        # The token itself is never kept: only a digest of it.
        return hashlib.sha256(token.encode()).hexdigest(), organization_id

    def get(self, token: str, organization_id: str) -> Verified | None:
        """The cached check, or None when absent or expired."""
        if self._ttl <= 0:
            return None
        key = self._key(token, organization_id)
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= time.time():
            del self._entries[key]
            entry = None
        (_MISSES if entry is None else _HITS).inc()
        return entry

    def put(
        self,
        token: str,
        organization_id: str,
        user: User,
        role: MemberRole | None,
        *,
        session_expires: datetime,
    ) -> None:
        """Remember a successful check until the TTL or the session's end, whichever is first;
        the oldest entry goes when full."""
        now = time.time()
        expires = min(now + self._ttl, session_expires.timestamp())
        if expires <= now:
            return
        key = self._key(token, organization_id)
        self._entries[key] = Verified(user, role, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
