# syntax=docker/dockerfile:1
# Every Brandcast service image. SERVICE names the folder under services/ (and the package
# brandcast-SERVICE); COMMAND is what the image runs by default after brandcast-SERVICE.
# Built from the repository root:
#   docker build --build-arg SERVICE=sms -t brandcast/sms .
#   docker build --build-arg SERVICE=orchestrator --build-arg COMMAND= -t brandcast/orchestrator .
#   docker build --build-arg SERVICE=admin --build-arg "COMMAND=serve --host 0.0.0.0 --port 8080" -t brandcast/admin .
# Only uv.lock, the root pyproject.toml, the contracts, the shared library and this one service
# enter the build; the builder installs them with deploy/install-package.sh (the step CI runs as
# a plain script) and the runtime image receives that venv and nothing else.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ARG SERVICE
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# The venv must be made by the interpreter path the runtime stage has: same image, same path.
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PYTHON=/usr/local/bin/python3
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY protos/python/pyproject.toml protos/python/
COPY protos/python/src protos/python/src
COPY shared/pyproject.toml shared/
COPY shared/src shared/src
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
COPY services/${SERVICE}/src services/${SERVICE}/src
COPY deploy/install-package.sh deploy/
RUN --mount=type=cache,target=/root/.cache/uv sh deploy/install-package.sh brandcast-${SERVICE} /opt/venv

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG COMMAND=worker
# A fixed numeric uid, so that volumes and a runAsNonRoot policy can name it; a working folder
# it owns (the orchestrator's embedded SQLite store lives there).
RUN useradd --system --no-log-init --uid 10001 --user-group \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin brandcast \
    && install -d -o 10001 -g 10001 /var/lib/brandcast
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRANDCAST_COMMAND="brandcast-${SERVICE} ${COMMAND}"
WORKDIR /var/lib/brandcast
USER 10001:10001
# Ports are published by the deployment (docker-compose.yml), per service and command.
CMD ["/bin/sh", "-c", "exec $BRANDCAST_COMMAND"]
