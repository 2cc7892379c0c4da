"""The Helm chart renders with more than one set of values, and every manifest is valid Kubernetes.

Rendered offline with the Helm SDK (helm-python-sdk, no helm binary or cluster), each manifest
validated against the Kubernetes schemas (kubernetes-validate), then checked for what the platform
relies on: non-root, read-only root, no capabilities, native gRPC probes, and environment the
processes actually read.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from xinyi_kit.config import KitSettings, env_names

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "xinyi"
KUBE_VERSION = "1.30"
SERVICES = ("identity", "ledger", "voting", "disclosure", "notifications")
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "overrides": {
        "fullnameOverride": "city",
        "image": {"repository": "registry.example/xinyi", "tag": "1.2.3"},
        "defaults": {"replicas": 3, "otlpEndpoint": "http://otel-collector:4318"},
        # A round port number: catches Helm's float formatting (6000 -> "6e+03").
        "services": {
            "ledger": {"grpcPort": 6000, "replicas": 1},
            "identity": {
                "secretEnv": {
                    "XINYI_BOOTSTRAP_PASSWORD": {"name": "identity-bootstrap", "key": "password"}
                }
            },
        },
        "gateway": {"httpPort": 9000, "maxBodyBytes": 2000000},
    },
    "notifications-off": {"services": {"notifications": {"enabled": False}}},
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm.Chart.load(str(CHART))
    rendered = chart.render(values, name="xinyi", namespace="xinyi", is_install=True)
    docs: list[dict[str, Any]] = []
    for text in rendered.values():
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def settings_class(component: str) -> type[BaseSettings]:
    if component == "gateway":
        cls = importlib.import_module("xinyi_gateway.config").Settings
    else:
        cls = getattr(importlib.import_module(f"xinyi_{component}.main"), "Settings", KitSettings)
    assert isinstance(cls, type) and issubclass(cls, BaseSettings)
    return cls


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in docs
        if doc["kind"] == kind
    }


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = VALUE_SETS[request.param]
    return values, render(values)


def test_chart_lints_clean() -> None:
    report = helm.lint(str(CHART), strict=True, kube_version=f"v{KUBE_VERSION}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_every_manifest_is_valid_kubernetes(
    rendered: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error}")


def test_a_deployment_and_a_service_per_component(
    rendered: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    values, docs = rendered
    enabled = {s for s in SERVICES if values.get("services", {}).get(s, {}).get("enabled", True)}
    expected = enabled | {"gateway"}
    assert set(by_kind(docs, "Deployment")) == expected
    assert set(by_kind(docs, "Service")) == expected


def test_pods_are_locked_down(rendered: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    _, docs = rendered
    for component, deployment in by_kind(docs, "Deployment").items():
        labels = deployment["metadata"]["labels"]
        assert all(label in labels for label in LABELS), (component, labels)
        pod = deployment["spec"]["template"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["securityContext"]["runAsUser"] == 10001
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        for container in pod["spec"]["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, component
            assert security["allowPrivilegeEscalation"] is False, component
            assert security["capabilities"]["drop"] == ["ALL"], component
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], component


def test_probes_and_ports_follow_the_settings(
    rendered: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    gateway_env = env_of(deployments["gateway"]["spec"]["template"]["spec"]["containers"][0])
    for component, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        if component == "gateway":
            port = int(env["XINYI_HTTP_PORT"])
            assert container["ports"][0]["containerPort"] == port
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
            continue
        port = int(env["XINYI_GRPC_PORT"])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, (component, probe)
        assert "secretKeyRef" in env["DATABASE_URL"], "DATABASE_URL comes from a Secret"
        service = services[component]
        grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
        expected = f"{service['metadata']['name']}:{grpc_port}"
        assert gateway_env[f"XINYI_{component.upper()}_ADDR"] == expected
        assert env["XINYI_IDENTITY_ADDR"] == gateway_env["XINYI_IDENTITY_ADDR"]


def test_environment_is_what_the_settings_read(
    rendered: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    for component, deployment in by_kind(docs, "Deployment").items():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        read = env_names(settings_class(component))
        unknown = sorted(k for k in env if k not in read and not k.startswith("OTEL_"))
        assert not unknown, f"{component} sets variables its settings do not read: {unknown}"
