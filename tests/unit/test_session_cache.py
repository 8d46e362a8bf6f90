"""`SessionCache`: successful session checks only, per token and organization, bounded in time
and size (through the routes: tests/service/test_session_cache_routes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from connect_backend.domain import User
from connect_backend.sessions import SessionCache
from tests.support.session_clock import Clock

ADA = User(id="usr_ada", email="ada@example.com", role="user")


# --- the cache itself -------------------------------------------------------------------------

LATER = datetime.fromtimestamp(10**10, UTC)  # a session that outlives every test


def test_no_entry_outlives_its_session(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    ends_in_3s = datetime.fromtimestamp(clock.now + 3, UTC)
    cache.put("tok", "org_a", ADA, "owner", session_expires=ends_in_3s)

    clock.now += 2.9
    assert cache.get("tok", "org_a") is not None
    clock.now += 0.2
    assert cache.get("tok", "org_a") is None


def test_a_session_already_over_is_not_cached(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    cache.put("tok", "org_a", ADA, "owner", session_expires=datetime.fromtimestamp(900, UTC))

    assert cache.get("tok", "org_a") is None
    assert len(cache) == 0


def test_a_stored_check_is_returned_within_the_ttl(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    cache.put("tok", "org_a", ADA, "owner", session_expires=LATER)

    clock.now += 9.9
    entry = cache.get("tok", "org_a")

    assert entry is not None
    assert (entry.user, entry.member_role) == (ADA, "owner")


def test_a_check_expires_after_the_ttl_and_is_dropped(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    cache.put("tok", "org_a", ADA, "owner", session_expires=LATER)

    clock.now += 10
    assert cache.get("tok", "org_a") is None
    assert len(cache) == 0


def test_checks_are_per_token_and_organization(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    cache.put("tok", "org_a", ADA, "owner", session_expires=LATER)

    assert cache.get("tok", "org_b") is None
    assert cache.get("other", "org_a") is None


def test_the_cache_is_bounded_and_drops_the_oldest(clock: Clock) -> None:
    cache = SessionCache(ttl=10, max_entries=3)
    for n in range(5):
        cache.put(f"tok{n}", "org_a", ADA, "member", session_expires=LATER)

    assert len(cache) == 3
    assert [cache.get(f"tok{n}", "org_a") is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_storing_again_makes_an_entry_the_newest(clock: Clock) -> None:
    cache = SessionCache(ttl=10, max_entries=2)
    cache.put("tok0", "org_a", ADA, "member", session_expires=LATER)
    cache.put("tok1", "org_a", ADA, "member", session_expires=LATER)
    cache.put("tok0", "org_a", ADA, "admin", session_expires=LATER)
    cache.put("tok2", "org_a", ADA, "member", session_expires=LATER)

    assert cache.get("tok1", "org_a") is None
    entry = cache.get("tok0", "org_a")
    assert entry is not None
    assert entry.member_role == "admin"


def test_ttl_zero_disables_the_cache(clock: Clock) -> None:
    cache = SessionCache(ttl=0)
    cache.put("tok", "org_a", ADA, "owner", session_expires=LATER)

    assert cache.get("tok", "org_a") is None
    assert len(cache) == 0


def test_the_token_itself_is_never_kept(clock: Clock) -> None:
    cache = SessionCache(ttl=10)
    cache.put("tok_very_secret_session", "org_a", ADA, "owner", session_expires=LATER)

    assert "tok_very_secret_session" not in repr(vars(cache))
