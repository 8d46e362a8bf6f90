"""`POST /api/connect/webhook` against crafted `Stripe-Signature` headers and bodies.

Whatever the header or the body, the answer is a 4xx with a stable code, never a 5xx; a refused
delivery applies nothing (no call reaches the fake Worker or the fake Stripe) and no delivery
logs a line at error level. First the crafted headers that once answered 500 with an error
line, then Hypothesis over headers, bodies and tampered deliveries: bounded and deterministic
(derandomized, a fixed number of examples each).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from stripe import WebhookSignature

from connect_backend import webhooks as webhook_module
from connect_backend.errors import BadRequest
from tests.service import events
from tests.service.fakes import FakeStripe, FakeWorker
from tests.service.test_webhook import (
    ACCT,
    NOW,
    ORG,
    assert_untouched,
    frozen_clock,  # noqa: F401 (a fixture, used by name)
    link,
    onboarding_of,
    written,
)
from tests.support.service import SECOND_WEBHOOK_SECRET, WEBHOOK_SECRET, signed

WEBHOOK = "/api/connect/webhook"
TOLERANCE = 300
ARABIC_INDIC_DIGITS = "".join(map(chr, range(0x660, 0x66A)))  # U+0660 to U+0669
ARABIC_INDIC = str.maketrans("0123456789", ARABIC_INDIC_DIGITS)
FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))
BODY = events.encode(events.account_updated(ACCT))  # one delivery, the same for every case
PENDING = ("pending", "details_submission", None)  # D1's view of ORG after `link`


def fuzz(max_examples: int) -> settings:
    """Bounded and deterministic; the fixtures are shared by a test's examples (each resets
    what it asserts on)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def v1(body: bytes, t: str, secret: str = WEBHOOK_SECRET) -> str:
    """Stripe's signature of `body` at the timestamp written `t` (any text)."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


async def post(
    client: httpx.AsyncClient, body: bytes, header: str | bytes | None
) -> httpx.Response:
    """Deliver `body` with `header` as its `Stripe-Signature`: bytes as they are, a str that is
    not ASCII as UTF-8 (the service reads header bytes as Latin-1, as every ASGI server does)."""
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if isinstance(header, str) and not header.isascii():
        header = header.encode()
    if header is not None:
        headers["Stripe-Signature"] = header
    return await client.post(WEBHOOK, content=body, headers=headers)


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the service logged at error level or above, after checking its lines are seen."""
    ours = [r for r in caplog.records if r.name.startswith("connect_backend")]
    assert any('"request.done"' in r.getMessage() for r in ours), "no service line captured"
    return [r.getMessage() for r in ours if r.levelno >= logging.ERROR]


def assert_refused(
    response: httpx.Response,
    code: str,
    *,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """400 with `code`, no call upstream, no error line."""
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert_untouched(worker, stripe)
    assert error_lines(caplog) == []


def reset(worker: FakeWorker, stripe: FakeStripe, caplog: pytest.LogCaptureFixture) -> None:
    """Forget what the previous Hypothesis example made the fakes and the logger see."""
    worker.requests.clear()
    stripe.requests.clear()
    caplog.clear()


# --- crafted headers that once answered 500 -------------------------------------------------

NOW_T = str(NOW)
HUGE_T = "1" + "0" * 399  # 400 digits: an integer Python reads, far past any tolerance
HUGER_T = "9" * 5000  # past Python's 4,300-digit limit for reading an integer


def _t_as(t: str) -> str:
    """A header with Stripe's own signature at NOW, its timestamp written `t`."""
    return f"t={t},v1={v1(BODY, NOW_T)}"


def _non_ascii_v1() -> str:
    good = v1(BODY, NOW_T)
    return good[:10] + "é" + good[11:]


HEADERS: list[Any] = [
    # Each v1 is of BODY: signed at NOW, or at the t written where the id ends in "-signed",
    # unless the id says otherwise. Text that is not ASCII goes out as UTF-8 (see `post`).
    pytest.param(_t_as(NOW_T.translate(ARABIC_INDIC)), id="t-arabic-indic"),
    pytest.param(_t_as("123".translate(ARABIC_INDIC)), id="t-arabic-indic-short"),
    pytest.param(f"t={HUGE_T},v1={v1(BODY, HUGE_T)}", id="t-400-digits-signed"),
    pytest.param(f"t={HUGER_T},v1={v1(BODY, HUGER_T)}", id="t-5000-digits-signed"),
    pytest.param(f"t={NOW_T},v1={_non_ascii_v1()}", id="v1-not-ascii"),
    pytest.param(f"t={NOW_T},v1={'é' * 64}", id="v1-all-not-ascii"),
    # stripe-python's compare cannot read a v1 that is not ASCII, so a good one after it is
    # never reached (Stripe writes ASCII only).
    pytest.param(f"t={NOW_T},v1=é,v1={v1(BODY, NOW_T)}", id="v1-not-ascii-then-good"),
    pytest.param(f"t={NOW_T},v1={'z' * 64}", id="v1-not-hex"),
    pytest.param(f"t={NOW_T},v1={v1(BODY, NOW_T).upper()}", id="v1-upper-hex"),
    pytest.param(f"t=,v1={v1(BODY, '')}", id="t-empty-signed"),
    pytest.param(f"t=,v1={v1(BODY, NOW_T)}", id="t-empty"),
    pytest.param(f"t={NOW - 1},t={NOW_T},v1={v1(BODY, NOW_T)}", id="t-repeated-signed-second"),
    pytest.param(f"t=,t={NOW_T},v1={v1(BODY, NOW_T)}", id="t-repeated-first-empty"),
    pytest.param(",", id="one-comma"),
    pytest.param(",,,,,,,,", id="only-commas"),
    pytest.param("=,=,=", id="only-equals-and-commas"),
    pytest.param(f"t={NOW_T}={NOW_T},v1={v1(BODY, NOW_T)}", id="equals-in-t"),
    pytest.param(f"t=={NOW_T},v1={v1(BODY, NOW_T)}", id="equals-before-t"),
    pytest.param(f"t={NOW_T},v1=={v1(BODY, NOW_T)}", id="equals-before-v1"),
    pytest.param(f"t={NOW_T}=,v1={v1(BODY, f'{NOW_T}=')}", id="equals-in-t-signed"),
    pytest.param(f"t={NOW_T},v1={v1(BODY, NOW_T, 'whsec_other')}", id="other-secret"),
    pytest.param(" ", id="blank"),
    # Authentic to stripe-python (its int() reads them), not as Stripe writes a timestamp:
    pytest.param(_t_as(f"+{NOW_T}"), id="t-plus-sign"),
    pytest.param(_t_as(f"{NOW_T[:4]}_{NOW_T[4:]}"), id="t-underscore"),
    pytest.param(_t_as(f" {NOW_T} "), id="t-spaces"),
    pytest.param(_t_as(f"000{NOW_T}"), id="t-13-digits-leading-zeros"),
    pytest.param(_t_as(f"{NOW_T}\xa0").encode("latin-1"), id="t-no-break-space-byte"),
]


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("header", HEADERS)
async def test_crafted_signature_header_is_refused_quietly_and_changes_nothing(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    header: str | bytes,
) -> None:
    link(worker, stripe)
    r = await post(client, BODY, header)
    assert_refused(r, "invalid_signature", worker=worker, stripe=stripe, caplog=caplog)
    assert onboarding_of(worker) == PENDING


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
async def test_missing_or_empty_header_is_missing_signature(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    header: str | None,
) -> None:
    link(worker, stripe)
    r = await post(client, BODY, header)
    assert_refused(r, "missing_signature", worker=worker, stripe=stripe, caplog=caplog)
    assert onboarding_of(worker) == PENDING


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff" + BODY, id="leading-0xff"),
        pytest.param(BODY.replace(b'"livemode"', b'"live\xc3mode"'), id="truncated-sequence"),
        pytest.param(BODY.replace(b'"livemode"', b'"\xed\xa0\x80"'), id="encoded-surrogate"),
        pytest.param(BODY.decode().encode("utf-16"), id="utf-16"),
    ],
)
async def test_validly_signed_body_that_is_not_utf8_is_refused(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    """stripe-python's verifier reads the body as UTF-8: one that is not matches no secret."""
    link(worker, stripe)
    r = await post(client, body, f"t={NOW_T},v1={v1(body, NOW_T)}")
    assert_refused(r, "invalid_signature", worker=worker, stripe=stripe, caplog=caplog)
    assert onboarding_of(worker) == PENDING


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "offset",
    [-TOLERANCE - 1, TOLERANCE + 1, -(10**9), 10**9, 10**11 - NOW],
    ids=["past", "future", "far-past", "far-future", "12-digit-t"],
)
@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, SECOND_WEBHOOK_SECRET])
async def test_validly_signed_timestamp_beyond_the_tolerance_is_refused_quietly(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    offset: int,
    secret: str,
) -> None:
    link(worker, stripe)
    t = str(NOW + offset)
    r = await post(client, BODY, f"t={t},v1={v1(BODY, t, secret)}")
    assert_refused(r, "invalid_signature", worker=worker, stripe=stripe, caplog=caplog)
    assert onboarding_of(worker) == PENDING


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda t, s: f"t={t},v1={s}", id="as-stripe-writes-it"),
        pytest.param(lambda t, s: f"t={t},t={t},v1={s}", id="t-repeated-same"),
        pytest.param(lambda t, s: f"t={t},t={NOW - 1},v1={s}", id="t-repeated-signed-first"),
        pytest.param(lambda t, s: f"t={t},v1={s}=junk", id="equals-after-v1"),
        pytest.param(lambda t, s: f"t={t},v1={s},,", id="trailing-commas"),
    ],
)
async def test_stripe_s_own_t_and_v1_verify_whatever_else_the_header_holds(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    make_header: Callable[[str, str], str],
) -> None:
    """Where the refusals above stop: stripe-python reads the first `t` and, of each item, the
    text between its first and second `=`; a header whose first `t` and one `v1` are Stripe's
    own is authentic and fresh whatever else it carries, and the delivery is applied."""
    link(worker, stripe)
    r = await post(client, BODY, make_header(NOW_T, v1(BODY, NOW_T)))
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "synced"
    assert onboarding_of(worker) == ("active", "complete", None)
    assert error_lines(caplog) == []


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "header",
    [
        pytest.param(_t_as(NOW_T.translate(ARABIC_INDIC)), id="arabic-indic"),
        pytest.param(_t_as("00".translate(ARABIC_INDIC) + NOW_T), id="arabic-indic-zeros"),
        pytest.param(_t_as(NOW_T.translate(FULLWIDTH)), id="fullwidth"),
        pytest.param(_t_as(f"{NOW_T}\u00a0"), id="no-break-space"),
        pytest.param(_t_as(f"+{NOW_T}"), id="plus"),
        pytest.param(_t_as(f"{NOW_T[:4]}_{NOW_T[4:]}"), id="underscore"),
        pytest.param(_t_as(f"000{NOW_T}"), id="leading-zeros"),
        pytest.param(f"t={HUGE_T},v1={v1(BODY, HUGE_T)}", id="400-digits"),
    ],
)
def test_timestamp_stripe_python_reads_but_stripe_never_writes_is_refused(header: str) -> None:
    """stripe-python reads `t` with `int()` (any Unicode digits, spaces, a sign, "_") and signs
    it back in ASCII digits, so it finds these authentic; the service's own window reads only
    the ASCII digits Stripe writes, and refuses them. An ASGI server hands header bytes over as
    Latin-1, which has no digits but 0-9: `verify` is called here with the text a server
    decoding otherwise would pass on."""
    assert WebhookSignature.verify_header(BODY, header, WEBHOOK_SECRET)
    with pytest.raises(BadRequest) as refused:
        webhook_module.verify(BODY, header, [WEBHOOK_SECRET], tolerance=TOLERANCE)
    assert refused.value.code == "invalid_signature"


# --- Hypothesis: any header --------------------------------------------------------------

# Never NOW itself: with the real signature among the pieces, `t=NOW,v1=<it>` is a header
# Stripe writes, and is accepted (the tests above draw where acceptance stops).
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6).map(str),
    st.integers(min_value=13, max_value=6000).map(lambda n: "9" * n),  # huge
    st.integers(min_value=0, max_value=10**12).map(lambda n: str(n).translate(ARABIC_INDIC)),
).filter(lambda t: t != NOW_T)
_PIECES = st.one_of(
    st.text(max_size=16),  # any unicode
    st.text(alphabet="0123456789abcdef" + ARABIC_INDIC_DIGITS + "²,= \t", max_size=40),
    _NUMBERS,
    st.sampled_from(["t=", "v1=", "v0=", "t", "v1", ",", "=", ",t=", ",v1=", "==", "\x00"]),
    st.just(v1(BODY, NOW_T)),  # the real signature, in the wrong places
)
_HEADERS = st.one_of(
    st.lists(_PIECES, max_size=12).map("".join),
    st.builds(lambda t, s: f"t={t},v1={s}", _PIECES, _PIECES),
    st.builds(lambda t, s, rest: f"t={t},v1={s}{rest}", _NUMBERS, _PIECES, _PIECES),
)


@pytest.mark.usefixtures("frozen_clock")
@fuzz(500)
@given(header=_HEADERS)
@example(header=f"t={NOW_T}")
@example(header=f"t={HUGER_T},v1={v1(BODY, NOW_T)}")
async def test_any_header_is_refused_with_a_400_and_nothing_applied(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    header: str,
) -> None:
    reset(worker, stripe, caplog)
    link(worker, stripe)
    r = await post(client, BODY, header)
    event(f"{r.status_code} {r.json()['error']['code']}")
    code = "missing_signature" if header == "" else "invalid_signature"
    assert_refused(r, code, worker=worker, stripe=stripe, caplog=caplog)
    assert written(worker) == []


# --- Hypothesis: any body, signed as Stripe would -----------------------------------------

# Text that shows up in answers and log lines: no "_" or white space, so that no value can
# look like a key, a secret or a bearer token to the secrets guard.
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Z"), blacklist_characters="_"),
    max_size=24,
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_OTHER_ACCT = "acct_1Stranger0000000001"
_EVENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "account.updated",
            "capability.updated",
            "account.external_account.created",
            "person.updated",
            "account.application.deauthorized",
            "payout.paid",
            "payout.failed",
            "transfer.reversed",
            "customer.created",
        ]
    ),
    _TEXT,
)


@st.composite
def _real_events(draw: st.DrawFn) -> dict[str, Any]:
    """A Stripe event of any type, of ORG's account, another account or none, in either mode,
    with unexpected fields and values beside the ones the service reads."""
    account = draw(st.sampled_from([ACCT, _OTHER_ACCT, None]) | _TEXT.map("acct_".__add__))
    obj = draw(st.dictionaries(_TEXT, _JSON, max_size=3))
    obj.update(draw(st.fixed_dictionaries({}, optional={"amount": _JSON, "currency": _JSON})))
    evt = events.event(draw(_EVENT_TYPES), obj, account=account, livemode=draw(st.booleans()))
    evt["id"] = "evt_" + draw(_TEXT)
    evt.update(draw(st.dictionaries(_TEXT.filter(lambda k: k not in evt), _JSON, max_size=2)))
    return evt


@st.composite
def _almost_events(draw: st.DrawFn) -> Any:
    """JSON that is not an event: a field the service needs, missing or of another type."""
    evt = events.account_updated(ACCT)
    where = draw(st.sampled_from(["id", "type", "data", "object"]))
    holder = evt["data"] if where == "object" else evt
    if draw(st.booleans()):
        del holder[where]
    else:
        wrong = st.none() | st.booleans() | st.integers() | st.lists(_JSON, max_size=2)
        if where in ("data", "object"):
            wrong = wrong | _TEXT
        holder[where] = draw(wrong)
    return evt


def _is_event(value: Any) -> bool:
    data = value.get("data") if isinstance(value, dict) else None
    return (
        isinstance(data, dict)
        and isinstance(data.get("object"), dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("type"), str)
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


_BODIES = st.one_of(
    _real_events().map(lambda e: (_json(e), "event")),
    _almost_events().map(lambda e: (_json(e), "invalid_payload")),
    _JSON.map(lambda v: (_json(v), "event" if _is_event(v) else "invalid_payload")),
    # Bytes with no "{" cannot hold an event; those that are not UTF-8 fail stripe-python's
    # verifier, which reads the body as text (see the regression test above).
    st.binary(max_size=200)
    .filter(lambda b: b"{" not in b)
    .map(lambda b: (b, "invalid_payload" if _utf8(b) else "invalid_signature")),
    st.builds(
        lambda b, at, junk: (b[:at] + junk + b[at:], "invalid_signature"),
        st.just(BODY),
        st.integers(min_value=0, max_value=len(BODY)),
        st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]),
    ),
    _JSON.map(lambda v: (_json(v)[:-1], "invalid_payload")).filter(lambda c: c[0] != b""),
)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


@fuzz(400)
@given(case=_BODIES)
@example(case=(_json(events.deauthorized(ACCT)), "event"))
@example(case=(_json(events.account_updated("acct_1/../../x?y=1#z")), "event"))
@example(case=(b"", "invalid_payload"))
@example(case=(b"null", "invalid_payload"))
@example(case=(b'"\\ud800"', "invalid_payload"))
@example(case=(b"1" * 400, "invalid_payload"))
@example(case=(b"[" * 5000, "invalid_payload"))
@example(case=(b'{"a": 1e400}', "invalid_payload"))
async def test_any_signed_body_is_a_200_or_a_400_never_a_5xx_or_an_error_line(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    case: tuple[bytes, str],
) -> None:
    body, expected = case
    reset(worker, stripe, caplog)
    worker.organizations.clear()
    link(worker, stripe)
    r = await events.deliver(client, body)
    event(f"{r.status_code} {r.json().get('action') or r.json()['error']['code']}")
    if expected == "event":
        assert r.status_code == 200, r.text
        assert r.json()["action"] in {"synced", "deauthorized", "ignored", "logged", "unlinked"}
    else:
        assert_refused(r, expected, worker=worker, stripe=stripe, caplog=caplog)
    assert error_lines(caplog) == []


# --- Hypothesis: a signed delivery, tampered with ----------------------------------------

_TAMPERINGS = st.one_of(
    st.tuples(st.just("flip"), st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("truncate"), st.integers(min_value=0)),
)


def _tamper(body: bytes, how: tuple[Any, ...]) -> bytes:
    match how:
        case ("flip", at, mask):
            i = at % len(body)
            return body[:i] + bytes([body[i] ^ mask]) + body[i + 1 :]
        case ("append", tail):
            return body + tail
        case ("truncate", at):
            return body[: at % len(body)]
    raise AssertionError(how)


async def test_the_untampered_delivery_is_applied(
    client: httpx.AsyncClient, worker: FakeWorker, stripe: FakeStripe
) -> None:
    """The delivery the next test tampers with: as signed, it syncs ORG."""
    link(worker, stripe)
    r = await post(client, BODY, signed(BODY)["Stripe-Signature"])
    assert r.status_code == 200, r.text
    assert len(written(worker)) == 1
    assert onboarding_of(worker) == ("active", "complete", None)


@fuzz(300)
@given(how=_TAMPERINGS)
@example(how=("append", b"\n"))  # the same JSON, one byte more
@example(how=("append", b" "))
@example(how=("truncate", len(BODY) - 1))  # the closing brace
@example(how=("flip", BODY.index(b"false"), ord("f") ^ ord("F")))
async def test_a_tampered_delivery_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    worker: FakeWorker,
    stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    how: tuple[Any, ...],
) -> None:
    reset(worker, stripe, caplog)
    link(worker, stripe)
    header = signed(BODY)["Stripe-Signature"]
    tampered = _tamper(BODY, how)
    assert tampered != BODY
    r = await post(client, tampered, header)
    event(f"{how[0]}: {r.status_code}")
    assert_refused(r, "invalid_signature", worker=worker, stripe=stripe, caplog=caplog)
    assert written(worker) == []
    assert onboarding_of(worker) == PENDING
    assert worker.organizations[ORG]["stripe_connect_synced_at"] is None
