# syntax=docker/dockerfile:1
# One image per service, all from this file:
#   docker build --build-arg SERVICE=ledger -t xinyi-ledger .
# SERVICE is one of identity | ledger | voting | disclosure | notifications | gateway.
# Third-party packages come from uv.lock with their hashes (pip --require-hashes); the workspace
# members (kit, contracts, the service) are built here as wheels and installed without deps.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG SERVICE
ARG UV_VERSION=0.13.8
ARG HATCHLING_VERSION=1.33.0

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN case "${SERVICE}" in \
        identity|ledger|voting|disclosure|notifications|gateway) ;; \
        *) echo "build arg SERVICE must be identity|ledger|voting|disclosure|notifications|gateway, got '${SERVICE}'" >&2; exit 2 ;; \
    esac

# Build tools live in their own virtualenv and never reach the final image.
RUN python -m venv /opt/tools \
    && /opt/tools/bin/pip install "uv==${UV_VERSION}" "hatchling==${HATCHLING_VERSION}"

WORKDIR /src

# The lock and every workspace member's pyproject: enough for uv to export, and a stable layer
# for the dependency install below (source changes do not invalidate it).
COPY pyproject.toml uv.lock ./
COPY kit/pyproject.toml kit/
COPY proto/pyproject.toml proto/
COPY gateway/pyproject.toml gateway/
COPY devtools/pyproject.toml devtools/
COPY services/identity/pyproject.toml services/identity/
COPY services/ledger/pyproject.toml services/ledger/
COPY services/voting/pyproject.toml services/voting/
COPY services/disclosure/pyproject.toml services/disclosure/
COPY services/notifications/pyproject.toml services/notifications/

# Third-party dependencies of the service, exactly as locked, hash-checked.
RUN /opt/tools/bin/uv export --locked --no-dev --no-emit-workspace \
        --package "xinyi-${SERVICE}" --output-file /tmp/requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt

# The code generator (grpcio-tools), also from the lock with hashes.
RUN /opt/tools/bin/uv export --locked --only-group codegen --no-emit-project --no-emit-workspace \
        --output-file /tmp/codegen.txt \
    && /opt/tools/bin/pip install --require-hashes --no-deps -r /tmp/codegen.txt

# Sources: generate the contracts' stubs, build the workspace members as wheels, install them.
COPY kit/ kit/
COPY proto/ proto/
COPY gateway/ gateway/
COPY services/ services/

RUN find proto -name '*.proto' -print0 \
        | xargs -0 /opt/tools/bin/python -m grpc_tools.protoc -I proto \
            --python_out=proto --pyi_out=proto --grpc_python_out=proto \
    && if [ "${SERVICE}" = gateway ]; then src=gateway; else src="services/${SERVICE}"; fi \
    && /opt/tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels \
        ./kit ./proto "./${src}" \
    && /opt/venv/bin/pip install --no-deps /tmp/wheels/*.whl \
    && /opt/venv/bin/python -c "import xinyi_kit, xinyi.common.v1.common_pb2" \
    && test -x "/opt/venv/bin/xinyi-${SERVICE}"

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE
LABEL org.opencontainers.image.title="xinyi-${SERVICE}" \
      org.opencontainers.image.description="Xinyi (信义) ${SERVICE}"

RUN groupadd --system --gid 10001 xinyi \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin xinyi

COPY --from=builder /opt/venv /opt/venv

# XINYI_SERVICE carries the build arg into the running container: CMD starts xinyi-${SERVICE}.
# The data dir is under /tmp so the root file system can be mounted read-only.
ENV XINYI_SERVICE=${SERVICE} \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XINYI_DATA_DIR=/tmp/xinyi

WORKDIR /tmp
USER 10001:10001

# gRPC (services), HTTP (gateway), Prometheus metrics.
EXPOSE 50051 8080 9464

# Services answer the standard gRPC health check; the gateway answers /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "if [ \"$XINYI_SERVICE\" = gateway ]; then exec python -c \"import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('XINYI_HTTP_PORT', '8080') + '/readyz', timeout=4)\"; else exec python -m xinyi_kit.probe \"127.0.0.1:${XINYI_GRPC_PORT:-50051}\"; fi"]

# exec: the service is PID 1 and gets SIGTERM itself.
CMD ["/bin/sh", "-c", "exec \"xinyi-${XINYI_SERVICE}\""]
