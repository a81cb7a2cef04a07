"""A tallied histogram exports what observing each value would have exported.

``HistogramTally.flush`` adds counts through prometheus_client's internals
(``metrics._add_to_histogram``): these tests compare it with ``observe`` value by
value, in this process and in multiprocess mode (a worker's), so a
prometheus_client release that stores histograms differently fails here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from brandcast.shared import metrics, worker
from brandcast.shared.delivery import Outcome
from brandcast.v1 import bus_pb2

BUCKETS = metrics.PROVIDER_LATENCY_BUCKETS
# Every bound exactly (a value on a bound counts in that bucket), and around them.
BOUNDARY_VALUES = [float(b) for b in BUCKETS] + [
    math.nextafter(float(b), math.inf) for b in BUCKETS
]


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    """Bucket and count samples by (sample name, le): exact; the sum is compared apart."""
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(name) and not sample.name.endswith(("_created", "_sum"))
    }


def _pair() -> tuple[CollectorRegistry, Histogram, CollectorRegistry, Histogram]:
    observed_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    observed = Histogram("latency", "", ["provider"], buckets=BUCKETS, registry=observed_registry)
    tallied = Histogram("latency", "", ["provider"], buckets=BUCKETS, registry=tallied_registry)
    return observed_registry, observed, tallied_registry, tallied


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from(BOUNDARY_VALUES),
            st.floats(min_value=-1.0, max_value=100.0, allow_nan=False),
            st.just(math.inf),
        ),
        max_size=60,
    ),
    flushes=st.integers(min_value=1, max_value=3),
)
def test_a_flushed_tally_equals_value_by_value_observations(
    values: list[float], flushes: int
) -> None:
    observed_registry, observed, tallied_registry, tallied = _pair()
    tally = metrics.HistogramTally(tallied, BUCKETS)
    for index, value in enumerate(values):
        provider = "a" if index % 3 else "b"
        observed.labels(provider).observe(value)
        tally.observe((provider,), value)
        if index % flushes == 0:
            tally.flush()
    tally.flush()
    tally.flush()  # nothing pending: adds nothing
    assert _samples(tallied_registry, "latency") == _samples(observed_registry, "latency")
    for provider in ("a", "b"):
        expected = observed_registry.get_sample_value("latency_sum", {"provider": provider})
        got = tallied_registry.get_sample_value("latency_sum", {"provider": provider})
        assert got == (None if expected is None else pytest.approx(expected, rel=1e-9))


def test_nothing_reaches_the_histogram_before_a_flush() -> None:
    _, _, registry, tallied = _pair()
    tally = metrics.HistogramTally(tallied, BUCKETS)
    tally.observe(("a",), 0.2)
    assert registry.get_sample_value("latency_count", {"provider": "a"}) is None
    tally.flush()
    assert registry.get_sample_value("latency_count", {"provider": "a"}) == 1


def test_a_tally_with_other_buckets_than_the_histogram_is_refused() -> None:
    _, _, _, tallied = _pair()
    tally = metrics.HistogramTally(tallied, BUCKETS[:-1])
    tally.observe(("a",), 0.2)
    with pytest.raises(ValueError, match="bucket counts"):
        tally.flush()


_MULTIPROCESS = textwrap.dedent(
    """
    import json, sys
    from prometheus_client import CollectorRegistry, multiprocess
    from brandcast.shared import metrics

    values = json.loads(sys.argv[1])
    tally = metrics.HistogramTally(metrics.PROVIDER_LATENCY, metrics.PROVIDER_LATENCY_BUCKETS)
    for value in values:
        metrics.PROVIDER_LATENCY.labels("observed", "p").observe(value)
        tally.observe(("tallied", "p"), value)
    tally.flush()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    samples = [
        [s.name, s.labels.get("channel"), s.labels.get("le", ""), s.value]
        for family in registry.collect() for s in family.samples
        if s.name.startswith("brandcast_provider_latency")
    ]
    print(json.dumps(samples))
    """
)


def test_in_multiprocess_mode_the_files_hold_what_observations_would(tmp_path: Path) -> None:
    """As in a worker: the values reach the mmap files the parent's endpoint reads."""
    values = [*BOUNDARY_VALUES, 0.0, 0.003, 0.07, 0.07, 3.2, 45.0, -0.5]
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS, json.dumps(values)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    by_channel: dict[str, dict[tuple[str, str], float]] = {"observed": {}, "tallied": {}}
    for name, channel, le, value in json.loads(done.stdout):
        by_channel[channel][(name, le)] = value
    observed, tallied = by_channel["observed"], by_channel["tallied"]
    assert observed[("brandcast_provider_latency_seconds_count", "")] == len(values)
    sum_key = ("brandcast_provider_latency_seconds_sum", "")
    assert tallied.pop(sum_key) == pytest.approx(observed.pop(sum_key), rel=1e-9)
    assert tallied == observed


def _batch() -> tuple[bus_pb2.DispatchBatch, bus_pb2.DispatchItem]:
    batch = bus_pb2.DispatchBatch(campaign_id="c", batch_id="b")
    item = batch.items.add(delivery_id="d")
    return batch, item


def _latency_count(channel: str, provider: str) -> float:
    registry = metrics.registry_for("adapter")
    labels = {"channel": channel, "provider": provider}
    return registry.get_sample_value("brandcast_provider_latency_seconds_count", labels) or 0.0


def test_a_batch_that_fails_still_reports_its_provider_calls() -> None:
    batch, item = _batch()
    before = _latency_count("tally-test", "null")

    def deliver(_batch: bus_pb2.DispatchBatch, _item: bus_pb2.DispatchItem) -> Outcome:
        return Outcome(provider="null")

    def failing_batch() -> None:
        with worker._timed(deliver, "tally-test") as timed:
            timed(batch, item)
            timed(batch, item)
            assert _latency_count("tally-test", "null") == before  # tallied, not yet added
            raise RuntimeError("a bug after two provider calls")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert _latency_count("tally-test", "null") == before + 2
