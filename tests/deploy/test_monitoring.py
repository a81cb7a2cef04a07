"""The operator's pack: Prometheus config, alert rules and the Grafana dashboard.

The rules are checked and unit-tested by ``promtool`` (Debian's, fetched by
``make tools``): each alert fires on the story it is written for and stays quiet
on its near miss. Every dashboard query is parsed by promtool too, and every
Brandcast metric that a query or rule names must exist in the catalogue
(``brandcast.shared.metrics``), so a renamed metric cannot silently empty a panel.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from brandcast.shared import metrics

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "brandcast.json"
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
METRIC_NAME = re.compile(r"\b(brandcast_[a-z_]+)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")

#: What Grafana needs of a provisioned dashboard to load it and draw every panel.
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "refresh": {"type": "string"},
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "type": {"enum": ["timeseries", "stat", "gauge", "table", "bargauge"]},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "y": {"type": "integer", "minimum": 0},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "h": {"type": "integer", "minimum": 1},
                        },
                    },
                    "datasource": {"$ref": "#/$defs/datasource"},
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr", "datasource"],
                            "properties": {
                                "refId": {"type": "string", "pattern": "^[A-Z]$"},
                                "expr": {"type": "string", "minLength": 1},
                                "datasource": {"$ref": "#/$defs/datasource"},
                            },
                        },
                    },
                },
            },
        },
    },
    "$defs": {
        "datasource": {
            "type": "object",
            "required": ["type", "uid"],
            "properties": {"type": {"const": "prometheus"}, "uid": {"const": "prometheus"}},
        }
    },
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or str(REPO / ".tools" / "promtool")
    if not Path(found).is_file():
        pytest.fail(
            "promtool is missing: `make tools` fetches it from Debian's prometheus package",
            pytrace=False,
        )
    return found


def _run(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _dashboard_queries() -> list[str]:
    return [t["expr"] for panel in _dashboard()["panels"] for t in panel["targets"]]


def _alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_check_and_their_unit_tests(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert "SUCCESS: 4 rules found" in checked
    tested = _run(promtool, "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in tested


def test_the_alerts_cover_what_an_operator_must_hear_about() -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    assert set(rules) == {
        "BrandcastDeadLetterQueueGrowing",
        "BrandcastDeliveryFailureRateHigh",
        "BrandcastOutboxStuck",
        "BrandcastProviderCircuitOpen",
    }
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_prometheus_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    # The config names the rules where the container mounts them; check it beside them.
    config = (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/alerts.yml", "alerts.yml"), encoding="utf-8"
    )
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)


def test_prometheus_scrapes_every_service_that_serves_metrics() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    targets: set[str] = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets |= {t.split(":")[0] for t in static["targets"]}
        for dns in job.get("dns_sd_configs", []):
            targets |= set(dns["names"])
    # The sandboxes share their adapter's settings but serve no metrics of their own.
    serving = {
        name
        for name, spec in COMPOSE["services"].items()
        if isinstance(spec.get("environment"), dict)
        and spec["environment"].get("METRICS_PORT")
        and not name.endswith("-emulator")
    }
    assert serving, "no service sets METRICS_PORT"
    assert serving <= targets, f"not scraped: {sorted(serving - targets)}"
    assert "rabbitmq" in targets  # queue depths and dead letters


def test_dashboard_is_a_loadable_grafana_dashboard() -> None:
    dashboard = _dashboard()
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    titles = " | ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for wanted in ("throughput", "failures by provider and error", "latency", "outbox"):
        assert wanted in titles, wanted
    assert "queue depths" in titles
    assert "dead-letter" in titles
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    assert provisioning["datasources"][0]["uid"] == "prometheus"


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    # promtool parses PromQL offline when it checks recording rules.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, expr in enumerate(_dashboard_queries())
                ],
            }
        ]
    }
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = _run(promtool, "check", "rules", "queries.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(_dashboard_queries())} rules found" in checked


def test_queries_and_rules_name_only_metrics_that_exist() -> None:
    catalogue = {
        family.name
        for own in metrics.OWN_METRICS.values()
        for metric in own
        for family in metric.describe()
    }
    texts = _dashboard_queries() + [rule["expr"] for rule in _alert_rules()]
    named: set[str] = set()
    for text in texts:
        for found in METRIC_NAME.findall(text):
            family = found
            for suffix in _SUFFIXES:
                family = family.removesuffix(suffix)
            named.add(family)
    assert named, "no Brandcast metric in the dashboard"
    assert named <= catalogue, f"unknown metrics: {sorted(named - catalogue)}"


def test_monitoring_runs_under_its_profile_only() -> None:
    services = COMPOSE["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    assert all(
        "profiles" not in spec
        for n, spec in services.items()
        if n
        not in {
            "prometheus",
            "grafana",
        }
    )
    mounted = {
        config["source"]
        for name in ("prometheus", "grafana")
        for config in services[name]["configs"]
    }
    assert mounted == set(COMPOSE["configs"])
    for config in COMPOSE["configs"].values():
        assert (REPO / config["file"]).is_file(), config["file"]
