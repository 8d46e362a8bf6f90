"""`POST /api/connect/webhook` against crafted `Stripe-Signature` headers and bodies.

Whatever the header or the body, the answer is a 4xx with a stable code, never a 5xx; a refused
delivery applies nothing (no call reaches the fake Worker or the fake Stripe) and no delivery
logs a line at error level: the crafted headers that once answered 500 with an error line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from stripe import WebhookSignature

from connect_backend import webhooks as webhook_module
from connect_backend.errors import BadRequest
from tests.service import events
from tests.service.conftest import SECOND_WEBHOOK_SECRET, WEBHOOK_SECRET
from tests.service.fakes import FakeStripe, FakeWorker
from tests.service.test_webhook import (
    ACCT,
    NOW,
    assert_untouched,
    frozen_clock,  # noqa: F401 (a fixture, used by name)
    link,
    onboarding_of,
)

WEBHOOK = "/api/connect/webhook"
TOLERANCE = 300
ARABIC_INDIC_DIGITS = "".join(map(chr, range(0x660, 0x66A)))  # U+0660 to U+0669
ARABIC_INDIC = str.maketrans("0123456789", ARABIC_INDIC_DIGITS)
FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))
BODY = events.encode(events.account_updated(ACCT))  # one delivery, the same for every case
PENDING = ("pending", "details_submission", None)  # D1's view of ORG after `link`


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
