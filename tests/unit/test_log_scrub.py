"""`log.scrub` looks for its cues before it runs its regex: the cues must never let a secret
through that the regex alone would have masked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connect_backend import log

# Pieces of every shape `log._SECRET` masks, and of near misses, mixed with ordinary text.
PIECES = [
    "sk_", "rk_", "pk_", "test_", "live_", "whsec_", "Bearer ", "BEARER\t", "bEaReR ",
    "accs_secret__", "_secret_", "cs_", "abc123", "XYZ", " ", "\"", ":", "{", "=", "/", "-", "_",
]  # fmt: skip


@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=24).map("".join))
def test_scrub_masks_exactly_what_its_regex_masks(text: str) -> None:
    assert log.scrub(text) == log._SECRET.sub("[redacted]", text)


def test_a_line_without_any_cue_is_returned_as_it_is() -> None:
    line = '{"event":"request.done","route":"/api/connect/webhook","status":200}'
    assert log.scrub(line) is line


def test_every_shape_is_still_masked() -> None:
    shapes = ["sk_test_abc123", "rk_live_Z9", "pk_test_1", "whsec_a+b/c=", "Bearer tok.en",
              "accs_secret__abc"]  # fmt: skip
    for shape in shapes:
        assert log.scrub(f"x {shape} y") == "x [redacted] y", shape
