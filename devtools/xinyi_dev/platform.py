"""The whole platform as local processes: infrastructure, migrations, five services, the gateway.

`make run` and the test suite both start it through this module, so they run the same system.
With `replicas` above one, every service and the gateway run that many processes, and each
caller spreads its calls over a service's instances (gRPC round robin over their addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from xinyi_dev.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from xinyi_kit.migrate import SERVICES, app_role, migrate

DATABASE = "xinyi"


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None


def _replace_db(url: str, database: str) -> str:
    head, _, tail = url.rpartition("/")
    query = ""
    if "?" in tail:
        tail, query = tail.split("?", 1)
        query = "?" + query
    return f"{head}/{database}{query}"


def _with_user(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    hostpart = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}://{user}:{password}@{hostpart}"


@dataclass
class Platform:
    """Starts and stops everything; `data_dir` keeps PostgreSQL, NATS and identity's files."""

    data_dir: Path
    http_port: int = 8080
    database_url: str | None = None  # an admin URL; None starts an embedded server
    nats_url: str | None = None  # None starts an embedded server
    database: str = DATABASE
    extra_env: dict[str, str] = field(default_factory=dict)
    bootstrap_password: str | None = None  # None: identity generates one into its data dir
    log_sink: IO[str] | None = None  # where service logs go; None: this process's stdout
    replicas: int = 1  # processes of each service and of the gateway

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.pg: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}
        self.admin_url = ""
        self.app_password = ""

    # -- infrastructure -------------------------------------------------------------------
    def start_infrastructure(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url is None:
            self.pg = EmbeddedPostgres(self.data_dir / "postgres")
            self.pg.start()
            self.pg.ensure_database(self.database)
            self.admin_url = self.pg.url(self.database)
        else:
            self.admin_url = self.database_url
        if self.nats_url is None:
            self.nats = EmbeddedNats(self.data_dir / "nats")
            self.nats.start()
            self.nats_url = self.nats.url
        secret = self.data_dir / "db-app-password"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(24))
            secret.chmod(0o600)
        self.app_password = secret.read_text().strip()

    def migrate(self) -> None:
        for service in SERVICES:
            asyncio.run(migrate(service, self.admin_url, self.app_password))

    # -- processes --------------------------------------------------------------------------
    @staticmethod
    def instance(name: str, index: int) -> str:
        """A process's name: the service's (or "gateway") for the first, then "<name>-2", ..."""
        return name if index == 0 else f"{name}-{index + 1}"

    def instances(self, name: str) -> list[str]:
        return [self.instance(name, i) for i in range(self.replicas)]

    def address(self, service: str) -> str:
        """The gRPC target of a service: its one address, or all its instances' addresses."""
        ports = [self.ports[name] for name in self.instances(service)]
        if len(ports) == 1:
            return f"127.0.0.1:{ports[0]}"
        return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)

    def service_env(self, service: str, index: int = 0) -> dict[str, str]:
        """The environment a service process (its `index`th instance) runs with."""
        assert self.nats_url is not None
        name = self.instance(service, index)
        env = {
            **os.environ,
            "DATABASE_URL": _with_user(self.admin_url, app_role(service), self.app_password),
            "NATS_URL": self.nats_url,
            "XINYI_GRPC_PORT": str(self.ports[name]),
            "XINYI_METRICS_PORT": str(self.ports[f"{name}-metrics"]),
            "XINYI_IDENTITY_ADDR": self.address("identity"),
            # A disclosure rebuild replays the other services' event logs.
            "XINYI_LEDGER_ADDR": self.address("ledger"),
            "XINYI_VOTING_ADDR": self.address("voting"),
            "XINYI_DATA_DIR": str(self.data_dir / service),
            "XINYI_DB_POOL_SIZE": "10",
            "OTEL_SERVICE_NAME": service,
            **self.extra_env,
        }
        if self.bootstrap_password:
            env["XINYI_BOOTSTRAP_PASSWORD"] = self.bootstrap_password
        env.pop("XINYI_HTTP_PORT", None)
        return env

    @property
    def operator_password(self) -> str:
        if self.bootstrap_password:
            return self.bootstrap_password
        return (self.data_dir / "identity" / "operator-password").read_text().strip()

    def gateway_env(self, index: int = 0) -> dict[str, str]:
        env = {
            **os.environ,
            "XINYI_HTTP_PORT": str(self.http_ports[index]),
            **{f"XINYI_{s.upper()}_ADDR": self.address(s) for s in SERVICES},
            "XINYI_DATA_DIR": str(self.data_dir / "gateway"),
            "OTEL_SERVICE_NAME": "gateway",
            **self.extra_env,
        }
        for name in ("DATABASE_URL", "NATS_URL"):
            env.pop(name, None)
        return env

    def allocate_ports(self) -> None:
        for service in SERVICES:
            for name in self.instances(service):
                self.ports.setdefault(name, free_port())
                self.ports.setdefault(f"{name}-metrics", free_port())
        for name in self.instances("gateway")[1:]:
            self.ports.setdefault(name, free_port())

    @property
    def http_ports(self) -> list[int]:
        """The gateways' HTTP ports: `http_port` for the first."""
        return [self.http_port] + [self.ports[n] for n in self.instances("gateway")[1:]]

    def start_service(self, service: str, index: int = 0) -> None:
        self._spawn(
            Proc(
                self.instance(service, index),
                [sys.executable, "-m", f"xinyi_{service}.main"],
                self.service_env(service, index),
            )
        )

    def start_gateway(self, index: int = 0) -> None:
        self._spawn(
            Proc(
                self.instance("gateway", index),
                [sys.executable, "-m", "xinyi_gateway.main"],
                self.gateway_env(index),
            )
        )

    def _spawn(self, proc: Proc) -> None:
        proc.popen = subprocess.Popen(
            proc.args,
            env=proc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        proc.pump = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        proc.pump.start()
        self.procs[proc.name] = proc

    def _pump(self, proc: Proc) -> None:
        """Copies a child's output, each line prefixed with its name, so the logs stay readable."""
        assert proc.popen is not None and proc.popen.stdout is not None
        sink = self.log_sink or sys.stdout
        width = 15
        for raw in proc.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with contextlib.suppress(ValueError):
                sink.write(f"{proc.name:<{width}}| {line}\n")
                sink.flush()

    def start(self) -> None:
        self.start_infrastructure()
        self.migrate()
        self.start_processes()

    def start_processes(self) -> None:
        """Every service's processes and the gateways, on infrastructure already migrated."""
        self.allocate_ports()
        for index in range(self.replicas):
            for service in SERVICES:
                self.start_service(service, index)
        for index in range(self.replicas):
            self.start_gateway(index)
        self.wait_healthy()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def gateway_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.http_ports]

    def wait_healthy(self, timeout: float = 90) -> dict[str, object]:
        """Waits until every gateway reports every service healthy; the first one's report.

        A gateway's report asks one instance of each service, so with replicas this checks
        that each gateway reaches its services, not that every instance serves."""
        deadline = time.monotonic() + timeout
        last: object = None
        healthy: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.popen is not None and proc.popen.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.popen.returncode}")
            for url in self.gateway_urls:
                if url in healthy:
                    continue
                try:
                    reply = httpx.get(f"{url}/healthz", timeout=3)
                    last = reply.text
                    if reply.status_code == 200:
                        healthy[url] = dict(reply.json())
                except httpx.HTTPError as exc:
                    last = exc
            if len(healthy) == len(self.gateway_urls):
                return healthy[self.gateway_url]
            time.sleep(0.3)
        raise RuntimeError(f"the platform was not healthy within {timeout:.0f}s: {last}")

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        proc = self.procs.get(name)
        if proc is None or proc.popen is None:
            return None
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(sig)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
        if proc.pump is not None:
            proc.pump.join(2)
        return proc.popen.returncode

    def stop(self) -> None:
        # The gateways first, so no new calls arrive; then every service at once.
        for name in self.instances("gateway"):
            self.stop_process(name)
        services = [name for service in SERVICES for name in self.instances(service)]
        for name in services:
            proc = self.procs.get(name)
            if proc is not None and proc.popen is not None and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        for name in services:
            self.stop_process(name)
        if self.nats is not None:
            self.nats.stop()
        if self.pg is not None:
            self.pg.stop()
