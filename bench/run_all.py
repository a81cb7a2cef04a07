"""`make bench`: every benchmark in one run, results written to bench/RESULTS.md.

    uv run python bench/run_all.py [--quick] [--recipients N] [--runs N] ...

Sizes are flags so a full run fits the machine's time; ``--quick`` is for
development. Each section's numbers come from the bench/ module named beside it.
The analysis under "Targets" is rewritten by hand after a run; this script keeps
it (everything below the ``<!-- analysis -->`` marker) and regenerates the rest.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
import time
from pathlib import Path

import bench_apprise
import bench_bus
import bench_e2e
import bench_latency
import bench_naive
import bench_one_recipient
from harness import SERVERS, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
MARKER = "<!-- analysis -->"
#: Sections measured by hand with commands of their own (too long for every
#: run): kept from the previous file as they were, in their place.
KEPT_SECTIONS = ("## 4b. ", "## 4c. ")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--recipients", type=int, default=100_000, help="null-provider e2e size")
    parser.add_argument("--runs", type=int, default=3, help="e2e runs (median reported)")
    parser.add_argument("--sandbox-recipients", type=int, default=1_000)
    parser.add_argument("--naive-recipients", type=int, default=1_000)
    parser.add_argument("--apprise-recipients", type=int, default=300)
    parser.add_argument("--latency-campaigns", type=int, default=1_000)
    parser.add_argument(
        "--memory-sizes",
        default="10000,1000000",
        help="comma-separated audience sizes for peak RSS besides --recipients "
        "(1,000,000 takes ~15 minutes)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes per adapter")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.recipients, args.runs = 1_000, 1
        args.sandbox_recipients = args.naive_recipients = 200
        args.apprise_recipients, args.latency_campaigns = 100, 20
        args.memory_sizes = "1000"
    return args


def _render_section() -> list[str]:
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, str(HERE / "bench_render.py")],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    elapsed = time.perf_counter() - started
    return [
        "## 4. Rendering (`bench/bench_render.py`, one core, in-process)",
        "",
        "```",
        output.rstrip(),
        "```",
        f"({elapsed:.0f}s)",
        "",
    ]


def _kept_sections(previous: str) -> list[str]:
    head = previous.split(MARKER, 1)[0]
    kept: list[str] = []
    for block in re.split(r"(?m)^(?=## )", head):
        if block.startswith(KEPT_SECTIONS):
            kept += [*block.rstrip("\n").split("\n"), ""]
    return kept


def _bus_section() -> list[str]:
    return [
        "## 4d. Bus payloads (`bench/bench_bus.py`, one core, in-process)",
        "",
        "One dispatch batch of rendered deliveries: the dispatcher's CPU to build it (each",
        "recipient rendered into it), the publisher's to encode it and the worker's to",
        "decode it (kombu as Celery calls it, twice, then the parse, then each e-mail's",
        "bodies read as the email adapter reads them), before (base64 in a Celery JSON",
        "body) and now (protobuf bytes, and those bytes zstd-compressed as",
        '`BUS_COMPRESSION=zstd` sends them; kombu decompresses once on arrival). "Shared',
        'layouts" is `BUS_SHARED_EMAIL_LAYOUTS=true` (with zstd, as `docker-compose.yml`',
        "deploys it): each e-mail layout once per batch, each e-mail its slots' values.",
        "",
        *bench_bus.table(bench_bus.measure()),
        "",
    ]


def _rss_table(results: list[bench_e2e.E2eResult]) -> list[str]:
    names = sorted({name for result in results for name in result.peak_rss_mb})
    lines = [
        "| process | " + " | ".join(f"{r.recipients:,} recipients" for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for name in names:
        cells = [
            f"{r.peak_rss_mb.get(name, 0):.0f} MB, {r.cpu_seconds.get(name, 0):.0f} s CPU"
            for r in results
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in SERVERS:
        cells = [f"{r.cpu_seconds.get(name, 0):.0f} s CPU" for r in results]
        lines.append(f"| {name} (shared) | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    args = _args()
    sys.path.insert(0, str(HERE))
    started = time.perf_counter()
    facts = machine()
    versions = {
        name: importlib.metadata.version(name)
        for name in ("celery", "kombu", "grpcio", "sqlalchemy", "psycopg", "apprise")
    }
    lines = [
        "# Brandcast benchmarks",
        "",
        f"Generated by `make bench` (`bench/run_all.py {' '.join(sys.argv[1:])}`).",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        *(f"| {name} | {version} |" for name, version in versions.items()),
        "",
        "The machine is shared: other work (test suites of other engineers) may run at",
        "the same time, so numbers vary between runs; medians are reported.",
        "",
    ]

    print("e2e: null providers", flush=True)
    null = bench_e2e.measure("null", args.recipients, args.runs, concurrency=args.concurrency)
    print("e2e: sandboxes", flush=True)
    sandbox = bench_e2e.measure("sandbox", args.sandbox_recipients, 1, concurrency=args.concurrency)
    print("naive design", flush=True)
    naive_null = bench_naive.measure(args.naive_recipients, providers="null")
    naive_sandbox = bench_naive.measure(args.naive_recipients // 2, providers="sandbox")
    print("apprise", flush=True)
    apprise = bench_apprise.measure(args.apprise_recipients)

    lines += [
        "## 1. End-to-end throughput (`bench/bench_e2e.py`)",
        "",
        "SubmitCampaignStream → every receipt stored; real processes "
        "(`examples/local_stack.py`), RabbitMQ (throwaway vhost), PostgreSQL (fresh "
        f"database); recipients × email + SMS + 4 social accounts; "
        f"`--concurrency {args.concurrency}` per adapter.",
        "",
        "| providers | recipients | deliveries | runs (deliveries/s) | median deliveries/s "
        "| CPU per delivery |",
        "|---|---|---|---|---|---|",
    ]
    for result in (null, sandbox):
        runs = ", ".join(f"{run.per_second:,.0f}" for run in result.runs)
        lines.append(
            f"| {result.providers} | {result.recipients:,} | {result.runs[0].deliveries:,} "
            f"| {runs} | **{result.median_per_second:,.0f}** "
            f"| {result.cpu_us_per_delivery:,.0f} µs |"
        )
    lines += [
        "",
        "CPU per delivery: user + system CPU of every process of the stack, PostgreSQL's",
        "and RabbitMQ's servers included, over the timed runs, divided by the deliveries.",
        "Two cores give 2,000,000 µs of CPU per second: the ceiling this sets is",
        f"{2e6 / null.cpu_us_per_delivery:,.0f} deliveries/s for the null-provider run.",
        "",
    ]
    if null.stored is not None:
        lines += [f"Null-provider run, {null.stored.summary()}.", ""]

    print("latency", flush=True)
    latency = bench_latency.measure(args.latency_campaigns)
    lines += [
        "## 2. One-recipient latency (`bench/bench_latency.py`)",
        "",
        "SubmitCampaign → the delivery SENT on WatchCampaign; null providers; "
        f"{len(latency.samples_ms)} campaigns one after another.",
        "",
        f"p50 **{latency.p50:.1f} ms**, p99 **{latency.percentile(99):.1f} ms**, "
        f"max {max(latency.samples_ms):.1f} ms.",
        "",
        "Median phases: SubmitCampaign answered after {:.1f} ms; the QUEUED change seen "
        "{:.1f} ms later; SENT seen {:.1f} ms after that.".format(*latency.phase_medians()),
        "",
        f"CPU per campaign (user + system, servers included): {latency.cpu_summary()}.",
        "",
        "The orchestrator's parts of it, in process (`bench/bench_one_recipient.py`, "
        "CPU, best of 7 rounds of 300):",
        "",
        "| part | CPU per campaign |",
        "|---|---:|",
        *(
            f"| {label} | {us:,.0f} µs |"
            for label, us in bench_one_recipient.measure(campaigns=300, rounds=7)
        ),
        "",
    ]

    memory = [null]
    for size in (int(s) for s in args.memory_sizes.split(",") if s):
        if size == args.recipients:
            continue
        print(f"memory: {size:,} recipients", flush=True)
        memory.append(bench_e2e.measure("null", size, 1, concurrency=args.concurrency))
    memory.sort(key=lambda r: r.recipients)
    lines += [
        "## 3. Memory (`bench/bench_e2e.py`, psutil every 0.2 s, process + children)",
        "",
        "Peak RSS and CPU seconds while the campaigns ran (null providers; for the size",
        "of section 1 the peak is over all its runs).",
        "",
        *_rss_table(memory),
        "",
    ]

    print("rendering", flush=True)
    lines += _render_section()
    previous = args.output.read_text() if args.output.exists() else ""
    lines += _kept_sections(previous)
    print("bus payloads", flush=True)
    lines += _bus_section()

    lines += [
        "## 5. Side by side, same sinks",
        "",
        "Same content (our renderer), same RabbitMQ and PostgreSQL server, the same",
        "sink programs (`brandcast-email sink`, `brandcast-sms emulator`).",
        "",
        "- naive (`bench/naive/`, `bench/bench_naive.py`): one Celery task per delivery,",
        "  prefork worker `--concurrency 2`, SMTP connection per email, one HTTP client",
        "  per process, one UPDATE + commit per receipt.",
        "- Apprise (`bench/bench_apprise.py`): `mailto://` to the SMTP sink, `form://`",
        "  to the emulator's Twilio endpoint, 8 threads, no store.",
        "",
        "| design | providers | deliveries | deliveries/s | ours ÷ theirs |",
        "|---|---|---|---|---|",
        f"| Brandcast | null | {null.runs[0].deliveries:,} | {null.median_per_second:,.0f} | |",
        f"| naive | null | {naive_null.deliveries:,} | {naive_null.per_second:,.0f} "
        f"| **{null.median_per_second / naive_null.per_second:.1f}×** |",
        f"| Brandcast | sandboxes | {sandbox.runs[0].deliveries:,} "
        f"| {sandbox.median_per_second:,.0f} | |",
        f"| naive | sandboxes | {naive_sandbox.deliveries:,} | {naive_sandbox.per_second:,.0f} "
        f"| **{sandbox.median_per_second / naive_sandbox.per_second:.1f}×** |",
        f"| Apprise | sandboxes | {apprise.deliveries:,} | {apprise.per_second:,.0f} "
        f"| **{sandbox.median_per_second / apprise.per_second:.1f}×** |",
        "",
        f"Whole run: {(time.perf_counter() - started) / 60:.1f} minutes.",
        "",
    ]

    analysis = previous[previous.index(MARKER) :] if MARKER in previous else MARKER + "\n"
    args.output.write_text("\n".join(lines) + "\n" + analysis)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
