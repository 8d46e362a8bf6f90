"""Pure pieces: Stripe's form decoding, parameter specs, and the CLI's configuration."""

from __future__ import annotations

import pytest

from stripe_sim.__main__ import build_parser, config_from_args
from stripe_sim.errors import StripeError
from stripe_sim.form_decoding import parse_pairs
from stripe_sim.param_specs import EXPAND, Int, Metadata


def test_nested_brackets_become_nested_hashes() -> None:
    form = parse_pairs(
        [
            ("capabilities[transfers][requested]", "true"),
            ("settings[payouts][schedule][interval]", "weekly"),
            ("metadata[organization_id]", "org_1"),
        ]
    )

    assert form == {
        "capabilities": {"transfers": {"requested": "true"}},
        "settings": {"payouts": {"schedule": {"interval": "weekly"}}},
        "metadata": {"organization_id": "org_1"},
    }


def test_both_array_spellings_give_a_list() -> None:
    appended = parse_pairs([("expand[]", "a"), ("expand[]", "b")])
    indexed = parse_pairs([("expand[1]", "b"), ("expand[0]", "a")])

    assert EXPAND.parse(appended["expand"], "expand") == ["a", "b"]
    assert EXPAND.parse(indexed["expand"], "expand") == ["a", "b"]


def test_empty_metadata_value_deletes_the_key() -> None:
    assert Metadata().parse({"a": "", "b": "x"}, "metadata") == {"a": None, "b": "x"}


def test_integer_spec_rejects_text_with_stripes_code() -> None:
    with pytest.raises(StripeError) as caught:
        Int(minimum=1).parse("12a", "amount")

    assert caught.value.code == "parameter_invalid_integer"
    assert caught.value.replayable is False


def test_cli_builds_platform_and_connect_endpoints() -> None:
    args = build_parser().parse_args(
        [
            "--port", "12999",
            "--webhook-url", "http://127.0.0.1:8000/api/connect/webhook",
            "--webhook-secret", "whsec_a",
            "--connect-webhook-url", "http://127.0.0.1:8000/api/connect/webhook",
            "--connect-webhook-secret", "whsec_b",
            "--latency-ms", "200",
        ]
    )  # fmt: skip

    config = config_from_args(args)

    assert config.public_url == "http://127.0.0.1:12999"
    assert [(w.secret, w.connect) for w in config.webhooks] == [
        ("whsec_a", False),
        ("whsec_b", True),
    ]
    assert config.latency_ms == 200


def test_cli_sends_connect_events_to_the_single_endpoint_when_no_connect_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_SIM_WEBHOOK_URL", "http://127.0.0.1:8000/hook")
    monkeypatch.setenv("STRIPE_SIM_WEBHOOK_SECRET", "whsec_a")

    config = config_from_args(build_parser().parse_args([]))

    assert [(w.url, w.secret, w.connect) for w in config.webhooks] == [
        ("http://127.0.0.1:8000/hook", "whsec_a", False),
        ("http://127.0.0.1:8000/hook", "whsec_a", True),
    ]


def test_cli_refuses_a_webhook_url_without_its_secret() -> None:
    args = build_parser().parse_args(["--webhook-url", "http://127.0.0.1:8000/hook"])

    with pytest.raises(SystemExit, match="--webhook-secret"):
        config_from_args(args)
