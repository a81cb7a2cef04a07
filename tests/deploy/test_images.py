"""The service images: how the one Dockerfile builds each service, and its install step run
as a plain script.

Every image comes from the repository's ``Dockerfile`` with ``--build-arg SERVICE=<folder>``
(and ``COMMAND``, what it runs by default). No Docker engine runs here, so the Dockerfile is
read with Docker's own parser (the ``dockerfile`` package), its build arguments substituted as
Docker does, and linted with hadolint; then, for each service, the builder stage is
replayed without Docker: its ``COPY`` instructions rebuild the build context (after
.dockerignore) in an empty folder and its install step, deploy/install-package.sh, runs there
exactly as in the image, into a fresh venv. That venv must import the service, run its console
scripts and hold nothing of the other services: each package installs alone, from uv.lock, with
only the dependencies it declares.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import dockerfile
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
INSTALL_SCRIPT = "deploy/install-package.sh"
VENV = "/opt/venv"
#: Service folder -> the Python package its image installs.
SERVICES = {
    "orchestrator": "brandcast-orchestrator",
    "email": "brandcast-email",
    "sms": "brandcast-sms",
    "social": "brandcast-social",
    "admin": "brandcast-admin",
}
#: The COMMAND build argument of a service whose default is not ``worker``.
COMMANDS = {"orchestrator": "", "admin": "serve --host 0.0.0.0 --port 8080"}
#: Console scripts that are bare server entry points: `--help` would start a server.
SERVER_ENTRY_POINTS = {"brandcast-orchestrator"}
ROOT_USERS = {"root", "0"}


# --- reading Dockerfiles and .dockerignore as Docker does ---------------------------------------


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` section of a Dockerfile and its instructions."""

    base: str
    name: str
    commands: tuple[dockerfile.Command, ...]

    def all(self, instruction: str) -> list[dockerfile.Command]:
        return [command for command in self.commands if command.cmd == instruction]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for command in self.all("ENV"):
            values = list(command.value)
            # Docker takes the quotes off a quoted value; the parser keeps them.
            unquoted = [v[1:-1] if len(v) > 1 and v[0] == v[-1] == '"' else v for v in values]
            env.update(zip(unquoted[0::2], unquoted[1::2], strict=True))
        return env


def parse_dockerfile(path: Path, build_args: dict[str, str] | None = None) -> list[Stage]:
    """The stages of a Dockerfile, with ``FROM`` images expanded from the global ``ARG``s and
    each stage's declared ``ARG``s (``build_args`` or their defaults) substituted in ``COPY``,
    ``ENV`` and ``RUN``, as the build sees them."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    base = name = ""
    commands: list[dockerfile.Command] = []
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            if base:
                stages.append(Stage(base, name, tuple(commands)))
            words = list(command.value)
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m[1], ""), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            commands = []
        elif not base and command.cmd == "ARG":
            key, _, default = command.value[0].partition("=")
            global_args[key] = default
        else:
            commands.append(command)
    if base:
        stages.append(Stage(base, name, tuple(commands)))
    return [_substitute(stage, build_args or {}) for stage in stages]


def _substitute(stage: Stage, build_args: dict[str, str]) -> Stage:
    values: dict[str, str] = {}
    for command in stage.all("ARG"):
        key, _, default = command.value[0].partition("=")
        values[key] = build_args.get(key, default)

    def expand(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m[1], m[0]), text)

    commands = tuple(
        command._replace(value=tuple(expand(v) for v in command.value))
        if command.cmd in {"COPY", "ENV", "RUN"}
        else command
        for command in stage.commands
    )
    return Stage(stage.base, stage.name, commands)


class DockerIgnore:
    """.dockerignore rules: Go ``filepath.Match`` patterns plus ``**``, ``!`` exceptions, the
    last matching rule wins, and a rule matching a folder covers everything under it."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                include = line.startswith("!")
                pattern = str(PurePosixPath(line.removeprefix("!").strip().lstrip("/")))
                self.rules.append((include, _pattern_regex(pattern)))

    def excludes(self, relative_path: str) -> bool:
        """True when Docker leaves this file (POSIX path from the context root) out."""
        parts = PurePosixPath(relative_path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for include, regex in self.rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                excluded = not include
        return excluded


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def project(service: str) -> dict[str, object]:
    with (REPO / "services" / service / "pyproject.toml").open("rb") as file:
        data: dict[str, object] = tomllib.load(file)["project"]
    return data


def console_scripts(service: str) -> dict[str, str]:
    scripts = project(service).get("scripts", {})
    assert isinstance(scripts, dict)
    return {str(name): str(target) for name, target in scripts.items()}


def stages_of(service: str) -> list[Stage]:
    """The Dockerfile's stages as ``--build-arg SERVICE=<service>`` builds them."""
    args = {"SERVICE": service}
    if service in COMMANDS:
        args["COMMAND"] = COMMANDS[service]
    return parse_dockerfile(DOCKERFILE, args)


def install_runs(stage: Stage) -> list[str]:
    """The builder's ``RUN`` commands that invoke the install script."""
    return [c.value[0] for c in stage.all("RUN") if INSTALL_SCRIPT in c.value[0]]


DOCKER_IGNORE = DockerIgnore(DOCKERIGNORE.read_text(encoding="utf-8"))


# --- the Dockerfiles -----------------------------------------------------------------------------


def test_the_dockerignore_reading_follows_docker_rules() -> None:
    rules = DockerIgnore("*\n!keep\n!src/**/*.py\n**/__pycache__\n")
    assert rules.excludes("anything")
    assert rules.excludes("deep/folder/file")
    assert not rules.excludes("keep")
    assert not rules.excludes("keep/inside/file")
    assert not rules.excludes("src/a/b.py")
    assert rules.excludes("src/a/b.txt")
    assert rules.excludes("keep/__pycache__/x.pyc")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_dockerfile_is_multi_stage_and_ships_only_the_venv(service: str) -> None:
    stages = stages_of(service)
    assert len(stages) >= 2, "multi-stage: a builder and a runtime stage"
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    assert runtime.base == "python:3.11-slim"
    # The venv's interpreter link points into the builder's Python: both stages use one image.
    assert builder.base == runtime.base
    copies = runtime.all("COPY")
    assert [(c.flags, c.value) for c in copies] == [(("--from=builder",), (VENV, VENV))]
    assert not runtime.all("ADD")
    assert runtime.env()["PATH"].startswith(f"{VENV}/bin:")


def test_every_image_uses_the_same_python_and_uv() -> None:
    bases = {service: stages_of(service)[-1].base for service in SERVICES}
    uv_pins = {
        service: [
            c.value[0] for c in stages_of(service)[0].all("ARG") if "UV_VERSION" in c.value[0]
        ]
        for service in SERVICES
    }
    assert len(set(bases.values())) == 1, bases
    assert all(len(pin) == 1 for pin in uv_pins.values()), uv_pins
    assert len({pin[0] for pin in uv_pins.values()}) == 1, uv_pins


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_image_runs_as_a_non_root_user(service: str) -> None:
    runtime = stages_of(service)[-1]
    users = runtime.all("USER")
    assert users, "the runtime stage must switch to a non-root USER"
    user, _, group = users[-1].value[0].partition(":")
    assert user not in ROOT_USERS
    assert group not in ROOT_USERS
    # Nothing may run after USER as root again, and the last instruction runs the service.
    assert runtime.commands.index(users[-1]) > max(
        runtime.commands.index(c) for c in runtime.all("RUN")
    )


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_builder_installs_this_package_with_the_install_script(service: str) -> None:
    builder = stages_of(service)[0]
    assert project(service)["name"] == SERVICES[service]
    assert install_runs(builder) == [f"sh {INSTALL_SCRIPT} {SERVICES[service]} {VENV}"]
    runtime = stages_of(service)[-1]
    assert runtime.all("CMD")[-1].value == ("/bin/sh", "-c", "exec $BRANDCAST_COMMAND")
    command = runtime.env()["BRANDCAST_COMMAND"].split()
    assert command[0] in console_scripts(service)
    assert " ".join(command[1:]) == COMMANDS.get(service, "worker")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_build_context_holds_only_this_service_and_the_shared_library(service: str) -> None:
    allowed = (
        "pyproject.toml",
        "uv.lock",
        "protos/python/",
        "shared/",
        f"services/{service}/",
        INSTALL_SCRIPT,
    )
    for copy in stages_of(service)[0].all("COPY"):
        *sources, _dest = copy.value
        for source in sources:
            assert source.startswith(allowed), f"COPY {source} is not this service's"
            assert (REPO / source).exists(), f"COPY {source}: no such path"
            files = [source] if (REPO / source).is_file() else _files_under(source)
            kept = [path for path in files if not DOCKER_IGNORE.excludes(path)]
            assert kept, f".dockerignore leaves nothing of {source} in the build context"


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    for path in (".env", ".venv/bin/python", ".git/HEAD", "node_modules/x", "tests/conftest.py"):
        assert DOCKER_IGNORE.excludes(path), path
    assert DOCKER_IGNORE.excludes("shared/src/brandcast/shared/__pycache__/bus.cpython-311.pyc")
    assert not DOCKER_IGNORE.excludes("shared/src/brandcast/shared/bus.py")


def test_hadolint_accepts_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the install step, replayed without Docker ---------------------------------------------------


def _files_under(source: str) -> list[str]:
    root = REPO / source
    return [
        path.relative_to(REPO).as_posix()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


def _replay_copies(builder: Stage, context: Path) -> Path:
    """Do the builder's COPYs into ``context`` (its WORKDIR); returns that folder."""
    workdir: Path = context / str(builder.all("WORKDIR")[-1].value[0]).lstrip("/")
    for copy in builder.all("COPY"):
        assert not copy.flags, f"unexpected COPY flags {copy.flags}"
        *sources, dest = copy.value
        for source in sources:
            if (REPO / source).is_file():
                into_folder = dest.endswith("/") or len(sources) > 1
                target = workdir / dest / Path(source).name if into_folder else workdir / dest
                targets = {source: target}
            else:
                targets = {
                    path: workdir / dest / Path(path).relative_to(source)
                    for path in _files_under(source)
                }
            for path, copied in targets.items():
                if DOCKER_IGNORE.excludes(path):
                    continue
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / path, copied)
    return workdir


def _python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=venv,
    )


@pytest.mark.slow
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_installs_alone_from_the_lock(service: str, tmp_path: Path) -> None:
    assert shutil.which("uv"), "uv must be on PATH, as in the image's builder stage"
    builder = stages_of(service)[0]
    workdir = _replay_copies(builder, tmp_path / "context")
    assert not (workdir / "tests").exists()
    others = [s for s in SERVICES if s != service]
    assert not any((workdir / "services" / other).exists() for other in others)

    venv = tmp_path / "venv"
    (command,) = install_runs(builder)
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    # The image's own environment, but this machine's Python in place of the image's.
    env.update(builder.env(), PYTHON=sys.executable)
    result = subprocess.run(
        ["sh", "-c", command.replace(VENV, shlex.quote(str(venv)))],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    module = f"brandcast.{service}"
    imported = _python(venv, f"import {module}, brandcast.shared, brandcast.v1.bus_pb2")
    assert imported.returncode == 0, imported.stderr[-3000:]
    # Nothing of the other services, nor of the dev tools, came along.
    absent = [f"brandcast.{other}" for other in others] + ["pytest", "mypy"]
    probe = f"import importlib.util as u; print([m for m in {absent!r} if u.find_spec(m)])"
    found = _python(venv, probe)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]", f"unexpected packages in the image: {found.stdout}"
    checked = subprocess.run(
        ["uv", "pip", "check", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    for script, target in console_scripts(service).items():
        assert (venv / "bin" / script).is_file(), f"{script} was not installed"
        if script in SERVER_ENTRY_POINTS:
            module_name, _, function = target.partition(":")
            loaded = _python(
                venv, f"from {module_name} import {function}; assert callable({function})"
            )
            assert loaded.returncode == 0, loaded.stderr[-3000:]
            continue
        helped = subprocess.run(
            [str(venv / "bin" / script), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert helped.returncode == 0, f"{script} --help: {helped.stderr[-3000:]}"
        assert "usage:" in helped.stdout.lower()
