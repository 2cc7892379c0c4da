"""docker-compose.yml agrees with the code: the settings each process reads, its ports, its health.

Docker cannot run here, so the file is checked against the settings classes instead: a variable
the compose file sets that no settings class reads (a typo, a renamed setting) fails, and so does a
required setting it leaves out.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from xinyi_kit.config import KitSettings, env_name, env_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("identity", "ledger", "voting", "disclosure", "notifications")
GATEWAY = "gateway"
ONE_SHOT_CONDITION = "service_completed_successfully"
ALLOWED_CONDITIONS = {"service_healthy", ONE_SHOT_CONDITION}
# Read by the OpenTelemetry SDK itself, not by a settings class.
SDK_PREFIXES = ("OTEL_",)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def settings_class(name: str) -> type[BaseSettings]:
    """The class the process reads its configuration with (services may subclass KitSettings)."""
    if name == GATEWAY:
        cls = importlib.import_module("xinyi_gateway.config").Settings
    else:
        cls = getattr(importlib.import_module(f"xinyi_{name}.main"), "Settings", KitSettings)
    assert isinstance(cls, type) and issubclass(cls, BaseSettings), cls
    return cls


def environment(spec: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, whether written as a mapping or as KEY=VALUE items."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def one_shot_jobs(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait for to *complete*: the migrations."""
    jobs = set()
    for spec in services.values():
        for target, dep in (spec.get("depends_on") or {}).items():
            if isinstance(dep, dict) and dep.get("condition") == ONE_SHOT_CONDITION:
                jobs.add(target)
    return jobs


def default_port(cls: type[BaseSettings], field: str) -> str:
    return str(cls.model_fields[field].default)


def grpc_port(name: str, spec: dict[str, Any]) -> str:
    return environment(spec).get("XINYI_GRPC_PORT") or default_port(
        settings_class(name), "grpc_port"
    )


def userinfo(url: str) -> tuple[str, str, str]:
    """(user, password, host:port/db) of a postgresql:// URL whose password may be ${VAR:-x}."""
    match = re.fullmatch(r"postgres(?:ql)?://([^:@]+):(.*)@([^@]+)", url)
    assert match, f"not a postgresql://user:password@host URL: {url!r}"
    return match.group(1), match.group(2), match.group(3)


def test_every_service_and_the_gateway_is_there(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name in (*SERVICES, GATEWAY, "nats", "postgres") if name not in services]
    assert not missing, f"missing from docker-compose.yml: {missing}"


@pytest.mark.parametrize("name", [*SERVICES, GATEWAY])
def test_built_from_the_one_dockerfile(name: str, services: dict[str, dict[str, Any]]) -> None:
    build = services[name].get("build")
    assert isinstance(build, dict), f"{name}: build must name the Dockerfile and SERVICE arg"
    assert (REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file()
    assert (build.get("args") or {}).get("SERVICE") == name


@pytest.mark.parametrize("name", [*SERVICES, GATEWAY])
def test_environment_is_what_the_settings_read(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    cls = settings_class(name)
    env = environment(services[name])
    read = env_names(cls)
    unknown = sorted(k for k in env if k not in read and not k.startswith(SDK_PREFIXES))
    assert not unknown, f"{name} sets variables {cls.__qualname__} does not read: {unknown}"
    required = {env_name(cls, f) for f, info in cls.model_fields.items() if info.is_required()}
    absent = sorted(required - env.keys())
    assert not absent, f"{name} lacks required settings: {absent}"
    empty = sorted(k for k, v in env.items() if v.strip() == "")
    assert not empty, f"{name} sets empty values: {empty}"


def test_gateway_port_is_published_as_configured(services: dict[str, dict[str, Any]]) -> None:
    spec = services[GATEWAY]
    http_port = environment(spec).get("XINYI_HTTP_PORT") or default_port(
        settings_class(GATEWAY), "http_port"
    )
    published = []
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            published.append((str(port.get("published")), str(port.get("target"))))
        else:
            *_, host_port, container_port = str(port).split(":")
            published.append((host_port, container_port.split("/")[0]))
    assert (http_port, http_port) in published, (
        f"gateway listens on {http_port} but publishes {published}"
    )


@pytest.mark.parametrize("name", SERVICES)
def test_gateway_reaches_each_service_on_its_grpc_port(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    addr = environment(services[GATEWAY]).get(f"XINYI_{name.upper()}_ADDR")
    assert addr == f"{name}:{grpc_port(name, services[name])}"


@pytest.mark.parametrize("name", SERVICES)
def test_services_reach_identity_on_its_grpc_port(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    addr = environment(services[name]).get("XINYI_IDENTITY_ADDR")
    assert addr == f"identity:{grpc_port('identity', services['identity'])}"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_as_its_app_role_after_its_migration(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    spec = services[name]
    user, password, _ = userinfo(environment(spec)["DATABASE_URL"])
    assert user == f"xinyi_{name}", "a service connects as its own app role, never the admin"
    migrations = [
        job
        for job, job_spec in services.items()
        if "xinyi-migrate" in (command := job_spec.get("command") or []) and name in command
    ]
    assert len(migrations) == 1, f"{name}: expected one `xinyi-migrate {name}` job: {migrations}"
    job = services[migrations[0]]
    job_env = environment(job)
    assert job_env.get("XINYI_DB_APP_PASSWORD") == password, (
        f"{name}: its DATABASE_URL password differs from the one its migration gives the role"
    )
    admin, _, _ = userinfo(job_env["DATABASE_URL"])
    assert admin != user
    deps = spec.get("depends_on") or {}
    assert deps.get(migrations[0], {}).get("condition") == ONE_SHOT_CONDITION
    assert (job.get("depends_on") or {}).get("postgres", {}).get("condition") == "service_healthy"
    assert deps.get("nats", {}).get("condition") == "service_healthy"


def test_every_long_running_container_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    jobs = one_shot_jobs(services)
    assert jobs, "the migrations should be one-shot jobs others wait for"
    lacking = [
        name
        for name, spec in services.items()
        if name not in jobs
        and (
            not (check := spec.get("healthcheck")) or check.get("disable") or not check.get("test")
        )
    ]
    assert not lacking, f"no healthcheck: {lacking}"
    for job in jobs:
        assert services[job].get("restart", "no") == "no", f"{job} is one-shot: restart must be no"


@pytest.mark.parametrize("name", SERVICES)
def test_service_healthcheck_probes_its_grpc_port(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "xinyi_kit.probe"], test
    assert test[4] == f"127.0.0.1:{grpc_port(name, services[name])}"


def test_gateway_healthcheck_asks_readyz(services: dict[str, dict[str, Any]]) -> None:
    spec = services[GATEWAY]
    test = " ".join(spec["healthcheck"]["test"])
    port = environment(spec).get("XINYI_HTTP_PORT", "8080")
    assert "urllib" in test and f"127.0.0.1:{port}/readyz" in test, test


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    jobs = one_shot_jobs(services)
    for name, spec in services.items():
        deps = spec.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions, not a bare list"
        for target, dep in deps.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = (dep or {}).get("condition")
            assert condition in ALLOWED_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert target not in jobs and services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy, but it has no healthcheck"
                )
    for name in SERVICES:
        if name != "identity":
            condition = services[name]["depends_on"].get("identity", {}).get("condition")
            assert condition == "service_healthy", f"{name} should wait for identity"
    for name in SERVICES:
        assert services[GATEWAY]["depends_on"][name]["condition"] == "service_healthy"


def test_nats_runs_jetstream_and_postgres_is_probed(services: dict[str, dict[str, Any]]) -> None:
    nats = services["nats"]
    assert str(nats["image"]).startswith("nats:2.10")
    command = nats.get("command") or []
    assert "-js" in command or "--jetstream" in command
    assert "8222" in " ".join(nats["healthcheck"]["test"])
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:18")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
