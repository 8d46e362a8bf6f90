"""The operations files stay true to the service: the alert rules and the Grafana dashboard
only query metrics that `connect_backend.metrics` defines (as the exposition names them), the
five alerts exist with what an on-call person needs, each has a runbook in
docs/operations.md, and promtool accepts the rules and passes their unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from connect_backend import metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "ops" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "connect-backend.json"
OPERATIONS = ROOT / "docs" / "operations.md"

THE_FIVE_ALERTS = {
    "ConnectHigh5xxRate",
    "ConnectUpstreamUnavailable",
    "ConnectWebhookDeliveriesFailing",
    "ConnectHighLatencyP99",
    "ConnectRateLimitSurge",
}

# Loose on purpose: any name of ours in an expression, wherever it stands.
METRIC_NAME = re.compile(r"\bconnect_[a-z_]+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")
# The sample names the exposition gives each type of metric (prometheus-client's rules).
EXPOSED = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _defined() -> dict[str, str]:
    """Every metric metrics.py defines: its name → its type, read through `describe()`."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            found.update({family.name: family.type for family in value.describe()})
    return found


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _query_panels() -> list[dict[str, Any]]:
    """The dashboard's panels that show data (rows only group them)."""
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _unknown_names(expressions: list[str]) -> set[str]:
    defined = _defined()
    unknown = set()
    for expression in expressions:
        for name in METRIC_NAME.findall(expression):
            kind = defined.get(_base(name))
            if kind is None or name not in {_base(name) + s for s in EXPOSED[kind]}:
                unknown.add(name)
    return unknown


def test_metrics_py_defines_what_the_ops_files_rely_on() -> None:
    """A guard on the guard: were `describe()` to find nothing, every name would look unknown
    and the tests below would fail loudly rather than pass emptily."""
    assert _defined()["connect_http_requests"] == "counter"
    assert _defined()["connect_http_request_duration_seconds"] == "histogram"
    assert _defined()["connect_workers"] == "gauge"


def test_the_alert_rules_query_only_metrics_metrics_py_defines() -> None:
    expressions = [rule["expr"] for rule in _rules()]

    assert all(METRIC_NAME.search(expression) for expression in expressions)
    assert _unknown_names(expressions) == set()


def test_the_dashboard_queries_only_metrics_metrics_py_defines() -> None:
    expressions = [target["expr"] for panel in _query_panels() for target in panel["targets"]]
    variables = [variable["definition"] for variable in _dashboard()["templating"]["list"]]

    assert _unknown_names(expressions + variables) == set()


def test_the_five_alerts_exist_each_with_severity_annotations_and_a_runbook() -> None:
    rules = {rule["alert"]: rule for rule in _rules()}
    headings = re.findall(r"^#+ (\S+)\s*$", OPERATIONS.read_text(), flags=re.MULTILINE)

    assert set(rules) == THE_FIVE_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert re.fullmatch(r"\d+m", rule["for"]), name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert name in headings, f"docs/operations.md has no runbook heading for {name}"


def test_the_alerts_sum_over_replicas_never_alert_per_instance() -> None:
    for rule in _rules():
        assert "sum by (job" in rule["expr"], rule["alert"]
        assert "instance" not in rule["expr"], rule["alert"]


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    cases = [
        case
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]

    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert fires == quiet == THE_FIVE_ALERTS


def test_the_dashboard_parses_and_every_panel_has_a_query_on_the_prometheus_input() -> None:
    dashboard = _dashboard()
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

    assert [item["name"] for item in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert len(_query_panels()) >= 10
    for panel in _query_panels():
        assert panel["datasource"] == datasource, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == datasource, panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not on PATH (./scripts/bootstrap installs Debian's prometheus, as "
            "root); ./scripts/test runs promtool itself anyway"
        )
    return subprocess.run(  # noqa: S603 - promtool on our own files, a fixed command line
        [promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_alert_rules() -> None:
    done = _promtool("check", "rules", str(ALERTS.relative_to(ROOT)))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_promtool_passes_the_alert_rules_unit_tests() -> None:
    done = _promtool("test", "rules", str(ALERT_TESTS.relative_to(ROOT)))

    assert done.returncode == 0, done.stdout + done.stderr
