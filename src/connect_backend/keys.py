"""The floor for the internal API key (`WORKER_API_KEY` / the Worker's `INTERNAL_API_KEYS`).

About 32 random bytes: at least 43 characters (32 bytes in base64url; 64 in hex) and at least
12 distinct ones, counted in code points. `contract/internal-api-key-rule.json` holds these
numbers and test vectors; the Worker's rule (`worker/src/internal/key-rule.ts`) and this one
are both tested against it. A pure function: nothing is read at import.
"""

from __future__ import annotations

MIN_LENGTH = 43
MIN_DISTINCT_CHARACTERS = 12


def is_strong_internal_key(key: str) -> bool:
    """True when `key` is long and varied enough to stand for 32 random bytes."""
    return len(key) >= MIN_LENGTH and len(set(key)) >= MIN_DISTINCT_CHARACTERS
