"""Where the end-to-end time goes: py-spy samples the running processes during a campaign.

    uv run --with py-spy python bench/profile_e2e.py --recipients 5000 --out var/profiles

Writes one py-spy "raw" (collapsed stacks) file per profiled process; the top
functions by own samples are printed. Needs ``py-spy`` on PATH (``uv pip install py-spy``).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import (
    NULL_PROVIDERS_ENV,
    UNTHROTTLED_ENV,
    run_campaign,
    throwaway_postgres,
    throwaway_vhost,
)
from local_stack import start_local_stack


def top_frames(raw: Path, count: int = 25) -> list[tuple[str, int]]:
    """Functions by inclusive samples from a collapsed-stack file."""
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        for frame in set(stack.split(";")):
            inclusive[frame] += int(samples)
    return inclusive.most_common(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--providers", choices=["null", "sandbox"], default="null")
    parser.add_argument("--processes", default="orchestrator,email-worker,sms-worker")
    parser.add_argument("--out", type=Path, default=Path("var/profiles"))
    parser.add_argument(
        "--idle", action="store_true", help="sample waiting threads too (wall-clock profile)"
    )
    args = parser.parse_args()
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed: uv pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(UNTHROTTLED_ENV)
    if args.providers == "null":
        env.update(NULL_PROVIDERS_ENV)
    with (
        tempfile.TemporaryDirectory(prefix="brandcast-profile-") as tmp,
        throwaway_vhost() as broker_url,
        throwaway_postgres() as database_url,
    ):
        stack = start_local_stack(
            Path(tmp) / "stack", broker_url=broker_url, database_url=database_url, extra_env=env
        )
        recorders: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name in args.processes.split(","):
                popen = stack.stack.processes[name].popen
                assert popen is not None
                recorders[name] = subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(popen.pid),
                        "--subprocesses",
                        "--format",
                        "raw",
                        "--rate",
                        "50",
                        *(["--idle"] if args.idle else []),
                        "-o",
                        str(args.out / f"{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            run = run_campaign(stack.grpc_address, args.recipients)
            print(
                f"{run.deliveries} deliveries in {run.seconds:.1f}s "
                f"(submit {run.submit_seconds:.1f}s)"
            )
        finally:
            for recorder in recorders.values():
                recorder.send_signal(2)
            for recorder in recorders.values():
                recorder.wait(30)
            stack.stop()
    for name in recorders:
        print(f"== {name}")
        for frame, samples in top_frames(args.out / f"{name}.txt"):
            print(f"{samples:7d}  {frame[:150]}")


if __name__ == "__main__":
    main()
