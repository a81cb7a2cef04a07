"""A throwaway 3-node RabbitMQ cluster on loopback, for fault scenarios.

Each node has its own name, AMQP port, distribution port, data and log
directories, an empty plugin list and no configuration file, so it shares
nothing with the machine's own RabbitMQ (on 5672) but ``epmd``. The nodes run
as the current user from ``/usr/lib/rabbitmq/bin`` with a cookie of their own
(``HOME`` points into the cluster's directory), are joined with
``rabbitmqctl join_cluster``, and are all stopped, and killed if they do not
stop, when the block ends. ``deploy/README.md`` describes the same setup.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from brandcast.shared.devstack import free_port

RABBIT_BIN: Final = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT: Final = 180.0


@dataclass
class RabbitNode:
    name: str
    port: int
    dist_port: int
    directory: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"


@dataclass
class RabbitCluster:
    nodes: list[RabbitNode]
    directory: Path
    stopped: set[str] = field(default_factory=set)

    @property
    def broker_url(self) -> str:
        """Every node, ';'-separated: kombu and Celery fail over along the list."""
        return ";".join(node.url for node in self.nodes)

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", node.name, *args],
            env=node.env,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        return out.stdout.decode()

    def node_named(self, name: str) -> RabbitNode:
        return next(node for node in self.nodes if node.name == name)

    def running(self) -> list[RabbitNode]:
        return [node for node in self.nodes if node.name not in self.stopped]

    def queue_leaders(self) -> dict[str, str]:
        """Quorum queue name -> the node leading it (asked of a running node)."""
        out = self.ctl(self.running()[0], "list_queues", "name", "type", "leader")
        leaders: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "quorum":
                leaders[parts[0]] = parts[2]
        return leaders

    def stop_node(self, node: RabbitNode) -> None:
        """Stop the whole node (its Erlang VM), as a lost machine would be."""
        self.stopped.add(node.name)
        try:
            self.ctl(node, "stop", timeout=60)
        finally:
            _reap(node)


def _node_env(base: Path, name: str, port: int, dist_port: int, home: Path) -> dict[str, str]:
    directory = base / name.split("@", maxsplit=1)[0]
    for sub in ("mnesia", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    env.update(
        HOME=str(home),
        RABBITMQ_NODENAME=name,
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_NODE_PORT=str(port),
        RABBITMQ_DIST_PORT=str(dist_port),
        RABBITMQ_MNESIA_BASE=str(directory / "mnesia"),
        RABBITMQ_LOG_BASE=str(directory / "log"),
        RABBITMQ_PID_FILE=str(directory / "rabbit.pid"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        # Nothing of the machine's broker: no env file, no config files.
        RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
        RABBITMQ_CONFIG_FILE=str(directory / "rabbitmq.conf"),
        RABBITMQ_ADVANCED_CONFIG_FILE=str(directory / "advanced.config"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
    )
    return env


def _reap(node: RabbitNode, timeout: float = 30) -> None:
    if node.process is None:
        return
    try:
        node.process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(10)


@contextmanager
def rabbitmq_cluster(base: Path, size: int = 3) -> Iterator[RabbitCluster]:
    """Start ``size`` joined nodes under ``base``; stop every one at the end."""
    base.mkdir(parents=True, exist_ok=True)
    home = base / "home"
    home.mkdir(exist_ok=True)
    cookie = home / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(20))
    cookie.chmod(0o400)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    tag = secrets.token_hex(3)
    nodes = []
    for n in range(1, size + 1):
        name = f"bc{tag}n{n}@localhost"
        port, dist_port = free_port(), free_port()
        env = _node_env(base, name, port, dist_port, home)
        nodes.append(RabbitNode(name, port, dist_port, base / name.split("@", maxsplit=1)[0], env))
    cluster = RabbitCluster(nodes, base)
    try:
        for node in nodes:
            log = (node.directory / "stdout.log").open("wb")
            node.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=node.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for node in nodes:
            # `wait` first waits for the pid file, then for the Erlang VM, then for
            # the app; `await_startup` gives up at once (exit 69) while the VM is
            # still booting, which a loaded machine turns into a race.
            cluster.ctl(
                node,
                "wait",
                str(node.directory / "rabbit.pid"),
                "--timeout",
                str(int(START_TIMEOUT)),
                timeout=START_TIMEOUT + 10,
            )
        first = nodes[0]
        for node in nodes[1:]:
            cluster.ctl(node, "stop_app")
            cluster.ctl(node, "join_cluster", first.name)
            cluster.ctl(node, "start_app")
        deadline = time.monotonic() + 60
        while True:
            status = cluster.ctl(first, "cluster_status", "--formatter", "json")
            if all(node.name in status for node in nodes) and status.count("running_nodes"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not form: {status}")
            time.sleep(0.5)
        yield cluster
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                with suppress(subprocess.SubprocessError, OSError):
                    cluster.ctl(node, "stop", timeout=60)
                _reap(node)
