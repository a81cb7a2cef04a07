"""docker-compose.yml: valid against the Compose Specification, and deployable as we mean it.

No Docker engine runs here, so the file is validated against the Compose Specification JSON
schema that check-jsonschema ships (``vendor.compose-spec``), then held to our own rules: health
checks and restart policies everywhere, start order on health, no secret in the file, every
interpolated variable documented in .env.example, builds that exist, commands the console
scripts accept, and health probes that really tell a live service from a dead one.
"""

from __future__ import annotations

import http.server
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from brandcast.shared.devstack import free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SERVICE_FOLDERS = ("orchestrator", "email", "sms", "social", "admin")


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def project_scripts(service: str) -> set[str]:
    """The console scripts a service's pyproject.toml declares."""
    with (REPO / "services" / service / "pyproject.toml").open("rb") as file:
        return set(tomllib.load(file)["project"].get("scripts", {}))


COMPOSE = load_compose()
COMPOSE_SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
#: Services built from this repository, and the service folder each one is built from.
APP_SERVICES = {
    name: spec["build"]["args"]["SERVICE"]
    for name, spec in COMPOSE_SERVICES.items()
    if "build" in spec
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_PASS$|API_KEY")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
URL_CREDENTIALS = re.compile(r"://[^/:@\s]+:([^@\s]+)@")


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value.strip()
    return values


# --- the specification ---------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = _check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_validation_rejects_what_compose_would_reject(tmp_path: Path) -> None:
    # Proves the check above can fail: the same file with one misspelt key is refused.
    broken = COMPOSE_FILE.read_text(encoding="utf-8").replace(
        "stop_grace_period: 20s", "stop_grace_periode: 20s", 1
    )
    assert broken != COMPOSE_FILE.read_text(encoding="utf-8")
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    result = _check_jsonschema(tmp_path / "docker-compose.yml")
    assert result.returncode == 1
    assert "stop_grace_periode" in result.stdout + result.stderr


# --- our rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_every_service_has_a_health_check_and_restarts(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    assert spec.get("restart") == "unless-stopped", f"{name}: restart policy"
    check = spec.get("healthcheck", {})
    assert not check.get("disable", False), f"{name}: health check disabled"
    test = check.get("test")
    assert isinstance(test, list), f"{name}: no health check"
    assert test[0] in {"CMD", "CMD-SHELL"}, f"{name}: health check {test!r}"
    assert len(test) > 1, f"{name}: empty health check"


def test_the_stack_has_every_part() -> None:
    images = {spec.get("image", "").split(":")[0] for spec in COMPOSE_SERVICES.values()}
    assert {"rabbitmq", "postgres", "redis", "axllent/mailpit"} <= images
    assert COMPOSE_SERVICES["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert COMPOSE_SERVICES["postgres"]["image"].startswith("postgres:16")
    assert set(APP_SERVICES.values()) == set(SERVICE_FOLDERS)
    for channel in ("email", "sms", "social"):
        assert f"{channel}-worker" in APP_SERVICES
    assert {"email-webhooks", "sms-webhooks", "sms-emulator", "social-emulator"} <= set(
        APP_SERVICES
    )


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_dependencies_are_waited_for_until_healthy(name: str) -> None:
    for target, condition in COMPOSE_SERVICES[name].get("depends_on", {}).items():
        assert target in COMPOSE_SERVICES, f"{name} depends on unknown {target}"
        assert condition == {"condition": "service_healthy"}, f"{name} -> {target}"
        assert "healthcheck" in COMPOSE_SERVICES[target]


def test_every_app_service_waits_for_the_broker_or_the_orchestrator() -> None:
    for name in APP_SERVICES:
        if name.endswith("-emulator"):
            continue  # sandboxes talk to nobody but the adapter that calls them
        depends_on = set(COMPOSE_SERVICES[name].get("depends_on", {}))
        assert depends_on & {"rabbitmq", "orchestrator"}, name


@pytest.mark.parametrize("name", sorted(COMPOSE_SERVICES))
def test_no_secret_is_written_in_the_file(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    for key, value in _environment(spec).items():
        if SECRET_NAME.search(key):
            rest = REFERENCE.sub("", value)
            assert rest.strip(",") == "", f"{name}: {key} has a literal value {value!r}"
        for password in URL_CREDENTIALS.findall(value):
            assert REFERENCE.fullmatch(password), f"{name}: {key} embeds a literal password"
    for env_file in spec.get("env_file", []):
        path = env_file if isinstance(env_file, str) else env_file["path"]
        assert Path(path).name != ".env.example", f"{name} reads the example file"


def test_local_env_file_is_never_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", ".env"], cwd=REPO, check=False, timeout=30
    )
    assert ignored.returncode == 0, ".env must be in .gitignore"


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    referenced = {match[0] for match in REFERENCE.findall(text)}
    required = {match[0] for match in REFERENCE.findall(text) if match[1] in {"?", ":?"}}
    documented = _env_example()
    missing = referenced - set(documented)
    assert not missing, f"not in .env.example: {sorted(missing)}"
    # Compose reads COMPOSE_PROJECT_NAME itself; anything else unused is a stale line.
    unused = set(documented) - referenced - {"COMPOSE_PROJECT_NAME"}
    assert not unused, f".env.example documents unused {sorted(unused)}"
    empty_required = sorted(name for name in required if not documented[name])
    assert not empty_required, f"required but empty in .env.example: {empty_required}"


def test_no_bare_dollar_escapes_compose_interpolation() -> None:
    # A single `$NAME` would be interpolated by compose on the host; container-side variables
    # must be written `$$NAME`.
    for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        stripped = line.replace("$$", "")
        assert re.search(r"\$(?!\{)", stripped) is None, line


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_build_from_an_existing_dockerfile(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    context = REPO / spec["build"]["context"]
    assert context.resolve() == REPO, "services build from the repository root"
    dockerfile = context / spec["build"]["dockerfile"]
    assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
    assert (REPO / "services" / APP_SERVICES[name] / "pyproject.toml").is_file()
    assert spec["image"].startswith(f"brandcast/{APP_SERVICES[name]}:")


@pytest.mark.parametrize("name", sorted(set(COMPOSE_SERVICES) - set(APP_SERVICES)))
def test_third_party_images_are_pinned(name: str) -> None:
    image = COMPOSE_SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository, f"{name}: {image} has no tag"
    assert tag, f"{name}: {image} has no tag"
    assert tag != "latest", f"{name}: {image} floats"


@pytest.mark.parametrize("name", sorted(n for n in COMPOSE_SERVICES if n.endswith("-worker")))
def test_workers_can_be_scaled(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    assert "container_name" not in spec, f"{name}: a fixed name stops --scale"
    assert "ports" not in spec, f"{name}: a host port stops --scale"


def test_state_lives_in_named_volumes() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name in ("rabbitmq", "postgres"):
        assert COMPOSE_SERVICES[name].get("volumes"), f"{name} keeps no data"
    for name, spec in COMPOSE_SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert not source.startswith(("/", ".")), f"{name}: bind mount {volume}"
            assert source in declared, f"{name}: volume {source} is not declared"


def test_host_ports_are_published_on_loopback_only() -> None:
    for name, spec in COMPOSE_SERVICES.items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


# --- commands against the console scripts --------------------------------------------------------


def _command(name: str) -> list[str]:
    command = COMPOSE_SERVICES[name]["command"]
    return command if isinstance(command, list) else shlex.split(command)


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_command_is_a_console_script_of_the_image_package(name: str) -> None:
    command = _command(name)
    assert command[0] in project_scripts(APP_SERVICES[name]), (
        f"{name}: {command[0]} is not in services/{APP_SERVICES[name]}/pyproject.toml"
    )


@pytest.mark.slow  # imports each service's CLI in a fresh interpreter
@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_command_options_are_accepted_by_the_console_script(name: str) -> None:
    command = _command(name)
    words = [word for word in command[1:] if not word.startswith("-")][:1]
    options = {word.split("=", 1)[0] for word in command if word.startswith("--")}
    if len(command) == 1:
        # A bare server entry point (brandcast-orchestrator) takes no arguments: `--help`
        # would start it. Its importability is checked in test_images.py.
        return
    script = Path(sys.executable).parent / command[0]
    result = subprocess.run(
        [str(script), *words, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    missing = {option for option in options if option not in result.stdout}
    assert not missing, f"{name}: {' '.join(command)} uses options --help does not list"


# --- health probes -------------------------------------------------------------------------------


def _probe(name: str, **replacements: str) -> list[str]:
    """The health check of ``name`` as an argv, with literal texts replaced (ports, hosts)."""
    test = COMPOSE_SERVICES[name]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], f"{name}: not a python probe"
    argv = [sys.executable, *test[2:]]
    for old, new in replacements.items():
        assert old in argv[-1], f"{name}: probe does not mention {old}"
        argv[-1] = argv[-1].replace(old, new)
    return argv


def _run_probe(argv: list[str], env: dict[str, str] | None = None) -> int:
    return subprocess.run(
        argv, capture_output=True, timeout=30, check=False, env={**os.environ, **(env or {})}
    ).returncode


@pytest.fixture
def health_server() -> Iterator[tuple[health.HealthServicer, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(grace=None)


def test_orchestrator_probe_follows_the_grpc_health_service(
    health_server: tuple[health.HealthServicer, int],
) -> None:
    servicer, port = health_server
    argv = _probe("orchestrator", **{"127.0.0.1:50051": f"127.0.0.1:{port}"})
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert _run_probe(argv) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert _run_probe(argv) != 0


def test_orchestrator_probe_fails_when_nothing_listens() -> None:
    argv = _probe("orchestrator", **{"127.0.0.1:50051": f"127.0.0.1:{free_port()}"})
    assert _run_probe(argv) != 0


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    """Answers 200 on the paths the probes ask for, 404 elsewhere."""

    def do_GET(self) -> None:
        ok = self.path in {"/healthz", "/_emulator/stats"}
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.mark.parametrize(
    ("name", "port", "path"),
    [
        ("admin", "8080", "/healthz"),
        ("email-webhooks", "8025", "/healthz"),
        ("sms-webhooks", "8031", "/healthz"),
        ("sms-emulator", "8030", "/_emulator/stats"),
    ],
)
def test_http_probe_needs_a_successful_answer(name: str, port: str, path: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        listening = str(server.server_address[1])
        assert _run_probe(_probe(name, **{port: listening})) == 0
        assert _run_probe(_probe(name, **{port: listening, path: "/missing"})) != 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert _run_probe(_probe(name, **{port: listening})) != 0


@pytest.mark.parametrize(("name", "port"), [("social-emulator", "8040")])
def test_tcp_probe_tells_listening_from_closed(name: str, port: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert _run_probe(_probe(name, **{port: str(listener.getsockname()[1])})) == 0
    assert _run_probe(_probe(name, **{port: str(free_port())})) != 0


def test_probe_programs_compile() -> None:
    for name, spec in COMPOSE_SERVICES.items():
        test = spec["healthcheck"]["test"]
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"<{name} health check>", "exec")


def test_compose_anchors_resolve_to_plain_mappings() -> None:
    # Every worker and webhook of a channel must see the same settings (one anchor per channel).
    text = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    for channel in ("email", "sms"):
        envs = [_environment(spec) for n, spec in text.items() if n.startswith(f"{channel}-")]
        assert len(envs) >= 2
        assert all(env == envs[0] for env in envs), channel


@pytest.mark.parametrize("name", sorted(n for n in COMPOSE_SERVICES if n.endswith("-worker")))
def test_worker_probe_needs_an_established_broker_connection(name: str) -> None:
    # The probe reads the machine's socket tables, so it gets a broker port nobody else uses.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = {"BROKER_URL": f"amqp://brandcast:secret@127.0.0.1:{port}//"}
        assert _run_probe(_probe(name), env) != 0, "healthy with no connection"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                assert _run_probe(_probe(name), env) == 0
    assert _run_probe(_probe(name), env) != 0
