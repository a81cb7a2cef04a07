"""A redis-server of a test's own, on a free loopback port, that the test can stop.

For Redis outages: the shared Redis on 6379 must never be stopped, so a test that
needs one to go away starts its own and stops it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis


class ThrowawayRedis:
    """A redis-server of our own on a free loopback port, which a test can stop."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """The outage: the server is gone, its port refuses connections."""
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
