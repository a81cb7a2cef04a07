"""Run a set of Brandcast processes on one machine: the demo and the end-to-end
tests start the real services this way, each as its own OS process.

Processes are started in order, each one waited for until it is ready (its TCP
port accepts connections, or a custom probe passes), their output goes to one
log file per process, and ``stop()`` ends them all: SIGTERM first so they drain,
SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

#: ``BRANDCAST_PORT_SLICE=i/n``: ``free_port`` hands out the ports of ``PORT_POOL`` that
#: are ``i`` modulo ``n`` (the test suite gives each parallel worker its own slice).
PORT_SLICE_ENV: Final = "BRANDCAST_PORT_SLICE"
#: Below the kernel's ephemeral range (32768-60999 by default), so no socket bound to
#: port 0 and no outgoing connection is ever given one of these ports.
PORT_POOL: Final = range(16000, 25000)

_slice_lock = threading.Lock()
_slice_cursor: dict[str, int] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before the caller's server binds it. Any other process
    that binds port 0 meanwhile may be handed the same one by the kernel, so with
    ``BRANDCAST_PORT_SLICE`` set the port comes from a slice of ``PORT_POOL`` no
    other holder of a different slice uses, taken in turn (a process does not get
    the same port twice until it has used its whole slice).
    """
    slice_spec = os.environ.get(PORT_SLICE_ENV, "")
    if not slice_spec:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    index, count = (int(part) for part in slice_spec.split("/"))
    ports = PORT_POOL[index::count]
    with _slice_lock:
        # A random start: another run (or a child process) in the same slice
        # starts elsewhere in it instead of on the same first port.
        cursor = _slice_cursor.get(slice_spec, random.randrange(len(ports)))
        for step in range(len(ports)):
            candidate = ports[(cursor + step) % len(ports)]
            if _bindable(candidate):
                _slice_cursor[slice_spec] = cursor + step + 1
                return candidate
    raise RuntimeError(f"no free port left in {PORT_SLICE_ENV}={slice_spec}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@dataclass
class Process:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    #: Ready when this port accepts connections (or ``ready`` passes).
    port: int | None = None
    ready: Callable[[], bool] | None = None
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None


class DevStack:
    def __init__(self, log_dir: Path, *, base_env: Mapping[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._base_env = dict(os.environ if base_env is None else base_env)
        self.processes: dict[str, Process] = {}

    def __enter__(self) -> DevStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, process: Process, *, timeout: float = 60.0) -> Process:
        process.log_path = self.log_dir / f"{process.name}.log"
        log = process.log_path.open("ab")
        # argv comes from our own stack definitions, never from user input.
        process.popen = subprocess.Popen(
            list(process.argv),
            env={**self._base_env, **process.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, not every child
        )
        log.close()
        self.processes[process.name] = process

        def ready() -> bool:
            assert process.popen is not None
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}; "
                    f"see {process.log_path}:\n{self.tail(process.name)}"
                )
            if process.ready is not None:
                return process.ready()
            return process.port is None or port_open(process.port)

        wait_until(ready, timeout, f"{process.name} to be ready (log: {process.log_path})")
        return process

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.processes[name].log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, name: str, sig: int) -> None:
        popen = self.processes[name].popen
        if popen is not None and popen.poll() is None:
            os.killpg(popen.pid, sig)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every process (newest first), then SIGKILL what is left."""
        running = [p for p in reversed(self.processes.values()) if p.popen is not None]
        for process in running:
            self.signal(process.name, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            assert process.popen is not None
            try:
                process.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal(process.name, signal.SIGKILL)
                process.popen.wait(5)
