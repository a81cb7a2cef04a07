"""Each process serves only the metrics it records."""

from __future__ import annotations

from prometheus_client import generate_latest

from brandcast.shared import metrics


def _families(role: metrics.Role) -> set[str]:
    text = generate_latest(metrics.registry_for(role)).decode()
    return {
        line.split()[2].removesuffix("_total")
        for line in text.splitlines()
        if line.startswith("# TYPE brandcast_") and not line.split()[2].endswith("_created")
    }


def test_a_worker_never_serves_the_orchestrators_metrics() -> None:
    metrics.DELIVERIES.labels("sms", "sent", "twilio").inc()
    adapter = _families("adapter")
    assert "brandcast_deliveries" in adapter
    assert "brandcast_outbox_backlog" not in adapter
    assert "brandcast_campaigns_accepted" not in adapter
    assert "brandcast_receipts_applied" not in adapter


def test_the_orchestrator_serves_its_own_and_no_adapters() -> None:
    orchestrator = _families("orchestrator")
    assert {
        "brandcast_outbox_backlog",
        "brandcast_campaigns_accepted",
        "brandcast_receipts_applied",
        "brandcast_receipts_received",
    } <= orchestrator
    assert "brandcast_deliveries" not in orchestrator
    assert "brandcast_webhook_published" not in orchestrator


def test_the_admin_serves_process_metrics_only() -> None:
    assert _families("admin") == set()
    text = generate_latest(metrics.registry_for("admin")).decode()
    assert "process_cpu_seconds_total" in text or "python_info" in text
