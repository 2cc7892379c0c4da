"""The Helm chart renders with several sets of values, and what it renders is what the code needs.

Rendered offline by the Helm engine (helm-python-sdk: no helm binary, no cluster), linted strictly,
every manifest validated against the Kubernetes 1.30 schemas (kubernetes-validate). Then what the
schemas cannot see, checked against the code itself rather than against a copy of it: the settings
classes say which variables each process reads and which services it calls, the Dockerfile says
the user id, xinyi_kit.migrate says what a migration reads. Selectors must pick the pods they
mean, probes must hit ports the processes listen on, and the NetworkPolicies, evaluated pod by
pod, must allow exactly the calls the code makes.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

import xinyi_kit.migrate
from tests.deploy.helm_checks import (
    COMPONENT,
    Doc,
    Pod,
    Policies,
    pods,
    probe_port,
    probes,
    render,
    secret_data,
    selects,
)
from xinyi_kit.config import KitSettings, _asyncpg_url, env_names
from xinyi_kit.service import LIVENESS

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "xinyi"
KUBE_VERSION = "1.30"
NAMESPACE = "xinyi"
SERVICES = ("identity", "ledger", "voting", "disclosure", "notifications")
TRIAL_SERVERS = {"postgresql": 5432, "nats": 4222, "objectstorage": 9000}
LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
# Read by the OpenTelemetry SDK itself, not by a settings class.
SDK_PREFIXES = ("OTEL_",)
# Settings the chart leaves unset on purpose (the ledger's store-specific ones are decided below).
NEVER_SET = {"XINYI_TEST_CLOCK_FILE": "only tests and the demo move the clock"}

EXTERNAL: dict[str, Any] = {
    "postgresql": {"host": "postgres.databases", "admin": {"password": "adm1n@p:ss/w%rd"}},
    "nats": {"url": "nats://nats.messaging:4222"},
    "objectStorage": {"endpoint": "https://s3.example.internal"},
}
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
INGRESS_CONTROLLER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
}


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge, later layers winning (maps merge, anything else replaces): the chart's rule."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


VALUE_SETS: dict[str, dict[str, Any]] = {
    # The least an operator must say: where PostgreSQL, NATS and the object store are.
    "minimal": EXTERNAL,
    "production": merged(
        EXTERNAL,
        {
            "fullnameOverride": "city",
            "image": {"repository": "registry.example/xinyi", "tag": "1.2.3"},
            "postgresql": {
                "port": 6432,
                "urlQuery": "ssl=require",
                "appPasswords": {"ledger": "ledger-role-password"},
                "networkPeers": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            },
            "nats": {
                "url": "tls://nats.messaging:4443",
                "networkPeers": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
            },
            "objectStorage": {
                "endpoint": "https://s3.example.internal:9443",
                "networkPeers": [{"ipBlock": {"cidr": "10.40.0.0/16"}}],
            },
            "secrets": {
                "bootstrapPassword": "operator-first-password",
                "smtpPassword": "mail-password",
                "smsGatewayToken": "sms-token",
            },
            "defaults": {
                "otlpEndpoint": "http://otel-collector.observability:4318",
                "secretEnv": {"OTEL_EXPORTER_OTLP_HEADERS": {"name": "otel", "key": "headers"}},
                "autoscaling": {
                    "enabled": True,
                    "minReplicas": 3,
                    "maxReplicas": 12,
                    "targetMemoryUtilizationPercentage": 85,
                },
                "podDisruptionBudget": {"maxUnavailable": "25%"},
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                    }
                ],
            },
            "services": {
                # A round port number: catches Helm's float formatting (6000 -> "6e+03").
                "ledger": {"grpcPort": 6000, "resources": {"limits": {"memory": "1Gi"}}},
                "notifications": {
                    "smtp": {
                        "host": "smtp.example.org",
                        "port": 587,
                        "starttls": True,
                        "username": "xinyi",
                    },
                    "sms": {"gatewayUrl": "https://sms.example.org/send"},
                    "delivery": {"emailRate": 2.5},
                },
            },
            "gateway": {
                "httpPort": 9000,
                "maxBodyBytes": 2000000,
                "autoscaling": {"minReplicas": 2},
                "ingress": {
                    "enabled": True,
                    "className": "nginx",
                    "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "20m"},
                    "hosts": [
                        {
                            "host": "xinyi.city.example",
                            "paths": [{"path": "/", "pathType": "Prefix"}],
                        }
                    ],
                    "tls": [{"hosts": ["xinyi.city.example"], "secretName": "xinyi-tls"}],
                },
            },
            "networkPolicy": {"gatewayFrom": [INGRESS_CONTROLLER], "metricsFrom": [PROMETHEUS]},
        },
    ),
    # Credentials live in Secrets the operator manages; the chart makes none.
    "existing-secrets": {
        "postgresql": {"existingSecret": "xinyi-database"},
        "nats": {"existingSecret": {"name": "xinyi-nats", "key": "url"}},
        "objectStorage": {"endpoint": "http://minio.storage:9000"},
        "secrets": {"existingSecret": "xinyi-settings"},
    },
    # One node: vouchers on a volume, notifications and metrics off.
    "single-node": merged(
        EXTERNAL,
        {
            "defaults": {"replicas": 1, "metricsPort": 0, "streamReplicas": 1},
            "services": {
                "ledger": {"vouchers": {"store": "disk", "diskClaim": "xinyi-vouchers"}},
                "notifications": {"enabled": False},
            },
        },
    ),
    "trial": {"trial": {"enabled": True}},
}


# -- facts from the code ------------------------------------------------------------------------


def settings_class(component: str) -> type[BaseSettings]:
    if component == "gateway":
        cls = importlib.import_module("xinyi_gateway.config").Settings
    else:
        cls = getattr(importlib.import_module(f"xinyi_{component}.main"), "Settings", KitSettings)
    assert isinstance(cls, type) and issubclass(cls, BaseSettings)
    return cls


def calls_in_code(component: str) -> set[str]:
    """The services a process calls: a `<service>_addr` setting each (identity's own is unused)."""
    fields = settings_class(component).model_fields
    return {f.removesuffix("_addr") for f in fields if f.endswith("_addr")} - {component}


def migrate_reads() -> set[str]:
    return set(re.findall(r"os\.environ\.get\(\"(\w+)\"\)", inspect.getsource(xinyi_kit.migrate)))


def dockerfile_uid() -> int:
    users = re.findall(r"^USER\s+(\d+)", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    return int(users[-1])


def dockerfile_exposed() -> set[int]:
    exposed = re.findall(r"^EXPOSE\s+(.+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    return {int(port) for line in exposed for port in line.split()}


# -- rendering ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    helm.disable_logging()
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


class Case:
    """One value set: what was asked, what Helm made of it, and what it rendered."""

    def __init__(self, name: str, chart: helm.Chart) -> None:
        self.name = name
        self.values = chart.merge_values(VALUE_SETS[name])
        self.out = render(chart, VALUE_SETS[name], NAMESPACE)
        self.pods = pods(self.out, NAMESPACE)

    def component(self, name: str) -> dict[str, Any]:
        own = self.values["gateway"] if name == "gateway" else self.values["services"][name]
        return merged(self.values["defaults"], own)

    @property
    def services(self) -> list[str]:
        return [s for s in SERVICES if self.values["services"][s].get("enabled", True)]

    @property
    def components(self) -> list[str]:
        return [*self.services, *(["gateway"] if self.values["gateway"]["enabled"] else [])]

    @property
    def fullname(self) -> str:
        # The release is "xinyi", which contains the chart's name.
        return str(self.values.get("fullnameOverride") or "xinyi")

    @property
    def trial(self) -> bool:
        return bool(self.values["trial"]["enabled"])

    @property
    def ledger_s3(self) -> bool:
        return "ledger" in self.services and self.component("ledger")["vouchers"]["store"] == "s3"

    def pods_of(self, component: str) -> list[Pod]:
        return [pod for pod in self.pods if pod.component == component]

    def chart_secrets(self) -> dict[str, dict[str, str]]:
        return {s["metadata"]["name"]: secret_data(s) for s in self.out.of_kind("Secret")}


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def case(request: pytest.FixtureRequest, chart: helm.Chart) -> Case:
    return Case(request.param, chart)


def main_container(deployment: Doc) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def env_items(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def resolved_env(case: Case, container: Mapping[str, Any]) -> dict[str, str]:
    """The environment the process would see: Secrets the chart makes are looked up, Secrets the
    operator brings get a plausible value, optional keys the chart leaves out stay unset."""
    secrets = case.chart_secrets()
    env: dict[str, str] = {}
    for name, item in env_items(container).items():
        if "value" in item:
            env[name] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        if ref["name"] in secrets:
            if ref["key"] in secrets[ref["name"]]:
                env[name] = secrets[ref["name"]][ref["key"]]
            else:
                assert ref.get("optional"), f"{name}: {ref['name']} has no key {ref['key']}"
        elif name == "DATABASE_URL":
            env[name] = "postgresql://xinyi_role:role-password@postgres.databases:5432/xinyi"
        elif name == "NATS_URL":
            env[name] = "nats://user:password@nats.messaging:4222"
        else:
            env[name] = "a-secret-from-the-operator"
    return env


# -- the engine: lint, schema, required values, Kubernetes schemas ------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_chart_lints_clean(name: str) -> None:
    report = helm.lint(str(CHART), VALUE_SETS[name], strict=True, kube_version=f"v{KUBE_VERSION}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


MISSING = {
    "postgresql.host is required": merged(EXTERNAL, {"postgresql": {"host": ""}}),
    "postgresql.admin.password is required": merged(
        EXTERNAL, {"postgresql": {"admin": {"password": ""}}}
    ),
    "nats.url is required": merged(EXTERNAL, {"nats": {"url": ""}}),
    "objectStorage.endpoint is required": merged(EXTERNAL, {"objectStorage": {"endpoint": ""}}),
    "services.ledger.vouchers.diskClaim is required": merged(
        EXTERNAL, {"services": {"ledger": {"vouchers": {"store": "disk"}}}}
    ),
}


@pytest.mark.parametrize("message", sorted(MISSING))
def test_a_missing_value_stops_the_render_in_words(chart: helm.Chart, message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        chart.render(MISSING[message], name="xinyi", namespace=NAMESPACE)


def test_nothing_renders_without_the_external_servers(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match="is required"):
        chart.render({}, name="xinyi", namespace=NAMESPACE)


BAD_VALUES: dict[str, dict[str, Any]] = {
    "a count in words": {"defaults": {"replicas": "two"}},
    "a port out of range": {"services": {"ledger": {"grpcPort": 70000}}},
    "a misspelt key": {"services": {"ledger": {"replica": 3}}},
    "a service setting on the gateway": {"gateway": {"grpcPort": 50051}},
    "an unknown service": {"services": {"payments": {"enabled": True}}},
    "an unknown log level": {"defaults": {"logLevel": "VERBOSE"}},
    "a short bootstrap password": {"secrets": {"bootstrapPassword": "short"}},
    "a switch in words": {"trial": {"enabled": "yes"}},
    "an unknown voucher store": {"services": {"ledger": {"vouchers": {"store": "ftp"}}}},
    "a password with a space": {"postgresql": {"admin": {"password": "two words"}}},
}


@pytest.mark.parametrize("label", sorted(BAD_VALUES))
def test_the_schema_refuses_bad_values(chart: helm.Chart, label: str) -> None:
    bad = merged(EXTERNAL, BAD_VALUES[label])
    # The engine applies values.schema.json itself, before any template runs...
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="xinyi", namespace=NAMESPACE)
    # ...and an independent validator agrees.
    schema = json.loads((CHART / "values.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(chart.merge_values(bad))


def test_the_schema_is_valid_and_takes_every_value_set(chart: helm.Chart) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load((CHART / "values.yaml").read_text()))
    for values in VALUE_SETS.values():
        validator.validate(chart.merge_values(values))


def test_every_manifest_is_valid_kubernetes(case: Case) -> None:
    assert case.out.docs
    for doc in case.out.docs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error}")


def test_every_object_is_named_once_and_labelled(case: Case) -> None:
    seen = set()
    for doc in case.out.docs:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{key} rendered twice"
        seen.add(key)
        labels = doc["metadata"].get("labels", {})
        assert all(label in labels for label in LABELS), (key, labels)
        assert len(doc["metadata"]["name"]) <= 63, key


# -- what exists ---------------------------------------------------------------------------------


def test_a_workload_per_component(case: Case) -> None:
    expected = set(case.components)
    assert set(case.out.by_component("Deployment")) == expected
    servers = set(TRIAL_SERVERS) if case.trial else set()
    assert set(case.out.by_component("StatefulSet")) == servers
    assert set(case.out.by_component("Service")) == expected | servers
    assert set(case.out.by_component("ServiceAccount")) == expected | {"migrate"} | (
        {"trial"} if case.trial else set()
    )
    jobs = {job["metadata"]["name"] for job in case.out.of_kind("Job")}
    assert jobs == {f"{case.fullname}-migrate-{s}" for s in case.services} | (
        {f"{case.fullname}-bucket"} if case.trial else set()
    )


def test_autoscaling_and_disruption_budgets(case: Case) -> None:
    deployments = case.out.by_component("Deployment")
    autoscalers = case.out.by_component("HorizontalPodAutoscaler")
    budgets = case.out.by_component("PodDisruptionBudget")
    assert set(budgets) == set(case.components)
    for component, deployment in deployments.items():
        own = case.component(component)
        budget = budgets[component]["spec"]
        assert budget["maxUnavailable"] == own["podDisruptionBudget"]["maxUnavailable"]
        assert pods_selected(case, budget["selector"]) == {component}
        if not own["autoscaling"]["enabled"]:
            assert component not in autoscalers
            assert deployment["spec"]["replicas"] == own["replicas"]
            continue
        # The autoscaler owns the replica count; a fixed one would fight it on every upgrade.
        assert "replicas" not in deployment["spec"], component
        spec = autoscalers[component]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert (spec["minReplicas"], spec["maxReplicas"]) == (
            own["autoscaling"]["minReplicas"],
            own["autoscaling"]["maxReplicas"],
        )
        resources = {m["resource"]["name"] for m in spec["metrics"]}
        memory = own["autoscaling"]["targetMemoryUtilizationPercentage"]
        assert resources == ({"cpu", "memory"} if memory else {"cpu"})
        container = main_container(deployment)
        assert set(container["resources"]["requests"]) >= resources, "utilisation needs requests"


# -- selectors, ports and probes -----------------------------------------------------------------


def pods_selected(case: Case, selector: Mapping[str, Any]) -> set[str]:
    return {pod.component for pod in case.pods if selects(selector, pod.labels)}


def test_selectors_pick_the_pods_they_mean(case: Case) -> None:
    for workload in [*case.out.of_kind("Deployment"), *case.out.of_kind("StatefulSet")]:
        selector = workload["spec"]["selector"]
        assert selects(selector, workload["spec"]["template"]["metadata"]["labels"])
        own = workload["metadata"]["labels"][COMPONENT]
        assert pods_selected(case, selector) == {own}, workload["metadata"]["name"]
    for service in case.out.of_kind("Service"):
        own = service["metadata"]["labels"][COMPONENT]
        # Only the component's own pods: never the migration Jobs', which share its image.
        assert pods_selected(case, {"matchLabels": service["spec"]["selector"]}) == {own}
        for pod in case.pods_of(own):
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in pod.ports(), (own, port)
        # A headless Service is a StatefulSet's (trial servers) or a gRPC service's, whose
        # callers balance among its pods.
        statefulset = case.out.by_component("StatefulSet").get(own)
        if statefulset is not None:
            assert service["spec"].get("clusterIP") == "None", own
            assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
        elif service["spec"].get("clusterIP") == "None":
            assert service["spec"]["ports"][0]["name"] == "grpc", own
    for ingress in case.out.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                target = case.out.named("Service", backend["name"])
                assert target["metadata"]["labels"][COMPONENT] == "gateway"
                assert backend["port"]["name"] in {p["name"] for p in target["spec"]["ports"]}


def test_probes_hit_ports_the_processes_listen_on(case: Case) -> None:
    for pod in case.pods:
        ports = pod.ports()
        for container in pod.spec["containers"]:
            for kind, probe in probes(container):
                port = probe_port(probe)
                assert port is None or port in ports, (pod.workload, kind, port)
    for component, deployment in case.out.by_component("Deployment").items():
        container = main_container(deployment)
        env = resolved_env(case, container)
        settings = settings_for(component, env)
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        if component == "gateway":
            assert declared == {"http": settings.http_port}
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
            continue
        # The kit serves gRPC (and the standard health service) on grpc_port, metrics on
        # metrics_port unless it is 0.
        metrics = {"metrics": settings.metrics_port} if settings.metrics_port else {}
        assert declared == {"grpc": settings.grpc_port, **metrics}, component
        # Readiness asks the standard health (database and NATS answering); startup and
        # liveness the name the kit keeps SERVING while the process answers.
        assert container["readinessProbe"]["grpc"] == {"port": settings.grpc_port}, component
        for kind in ("startupProbe", "livenessProbe"):
            assert container[kind]["grpc"] == {"port": settings.grpc_port, "service": LIVENESS}, (
                component,
                kind,
            )


def test_the_gateway_serves_its_probe_paths() -> None:
    app = importlib.import_module("xinyi_gateway.app").create_app(settings_class("gateway")())
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/livez", "/readyz"} <= paths


def test_chart_defaults_follow_the_code() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    kit, gateway = KitSettings.model_fields, settings_class("gateway").model_fields
    assert values["defaults"]["grpcPort"] == kit["grpc_port"].default
    assert values["defaults"]["metricsPort"] == kit["metrics_port"].default
    assert values["gateway"]["httpPort"] == gateway["http_port"].default
    assert {50051, 9464, 8080} <= dockerfile_exposed()


# -- security -----------------------------------------------------------------------------------


def test_workloads_are_locked_down(case: Case) -> None:
    accounts = {sa["metadata"]["name"] for sa in case.out.of_kind("ServiceAccount")}
    repository = case.values["image"]["repository"]
    for pod in case.pods:
        spec = pod.spec
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, pod.workload
        assert security["runAsUser"] > 0, pod.workload
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, pod.workload
        assert spec["automountServiceAccountToken"] is False, pod.workload
        assert spec["serviceAccountName"] in accounts, pod.workload
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in pod.containers:
            where = (pod.workload, container["name"])
            if container["image"].startswith(repository + "-"):
                assert security["runAsUser"] == dockerfile_uid(), where
            locked = container["securityContext"]
            assert locked["readOnlyRootFilesystem"] is True, where
            assert locked["allowPrivilegeEscalation"] is False, where
            assert locked["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in locked["capabilities"], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            # The root file system is read-only: temporary files go to a volume of their own.
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], where
            assert volumes[tmp[0]["name"]]["emptyDir"].get("sizeLimit"), where


def test_secret_references_resolve(case: Case) -> None:
    made = case.chart_secrets()
    values = case.values
    brought = {
        values["postgresql"]["existingSecret"],
        values["secrets"]["existingSecret"],
        values["nats"]["existingSecret"]["name"],
        *(ref["name"] for ref in values["defaults"]["secretEnv"].values()),
    } - {""}
    assert not (brought & set(made)), "the chart must not overwrite a Secret it was given"
    for pod in case.pods:
        for container in pod.containers:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                assert ref["name"] in made or ref["name"] in brought, (pod.workload, ref)
                if ref["name"] in made and not ref.get("optional"):
                    assert ref["key"] in made[ref["name"]], (pod.workload, ref)


# -- environment --------------------------------------------------------------------------------


def settings_for(component: str, env: Mapping[str, str]) -> Any:
    """The process's settings object, read from exactly this environment."""
    with mock.patch.dict(os.environ, env, clear=True):
        return settings_class(component)()


def test_environment_is_what_the_settings_read(case: Case) -> None:
    services = case.out.by_component("Service")
    for component, deployment in case.out.by_component("Deployment").items():
        container = main_container(deployment)
        names = set(env_items(container))
        read = env_names(settings_class(component))
        unknown = sorted(n for n in names - read if not n.startswith(SDK_PREFIXES))
        assert not unknown, f"{component} sets variables its settings do not read: {unknown}"
        unset = read - names - set(NEVER_SET)
        if component == "ledger":
            store = env_items(container)["XINYI_VOUCHER_STORE"]["value"]
            unset -= (
                {"XINYI_VOUCHER_DIR"}
                if store == "s3"
                else {n for n in read if n.startswith("XINYI_S3_")}
            )
        assert not unset, f"{component} leaves settings to their defaults: {sorted(unset)}"
        assert not names & set(NEVER_SET), component
        # The values must also pass the settings' own validation (types, bounds).
        settings = settings_for(component, resolved_env(case, container))
        for peer in calls_in_code(component):
            service = services.get(peer)
            if service is None:
                continue
            port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
            address = getattr(settings, f"{peer}_addr")
            # Headless, by DNS: the caller sees every ready pod and balances among them.
            assert service["spec"].get("clusterIP") == "None", peer
            assert address == f"dns:///{service['metadata']['name']}:{port}", (component, peer)


def test_notifications_and_ledger_settings_come_from_values(case: Case) -> None:
    deployments = case.out.by_component("Deployment")
    if "notifications" in deployments:
        env = resolved_env(case, main_container(deployments["notifications"]))
        settings = settings_for("notifications", env)
        own = case.component("notifications")
        assert settings.smtp_host == own["smtp"]["host"]
        assert settings.smtp_port == own["smtp"]["port"]
        assert settings.smtp_starttls is own["smtp"]["starttls"]
        assert settings.sms_gateway_url == own["sms"]["gatewayUrl"]
        assert settings.email_rate == own["delivery"]["emailRate"]
        secrets = case.values["secrets"]
        brought = "a-secret-from-the-operator" if secrets["existingSecret"] else None
        assert settings.smtp_password == (brought or secrets["smtpPassword"])
        ingress = case.values["gateway"]["ingress"]
        if ingress["enabled"] and not own["publicUrl"]:
            scheme = "https" if ingress["tls"] else "http"
            assert settings.public_url == f"{scheme}://{ingress['hosts'][0]['host']}"
    if "ledger" in deployments:
        container = main_container(deployments["ledger"])
        settings = settings_for("ledger", resolved_env(case, container))
        if not case.ledger_s3:
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert settings.voucher_dir in mounts, "disk vouchers must outlive the pod"
        elif case.trial:
            assert settings.s3_endpoint.endswith(":9000")
            assert settings.s3_access_key is not None, "the trial store's keys are generated"
        else:
            assert settings.s3_endpoint == case.values["objectStorage"]["endpoint"]
            assert settings.s3_bucket == case.values["objectStorage"]["bucket"]


def test_stream_replicas_fit_the_nats_server(case: Case) -> None:
    for component in case.services:
        env = env_items(main_container(case.out.by_component("Deployment")[component]))
        replicas = int(env["XINYI_STREAM_REPLICAS"]["value"])
        expected = 1 if case.trial else case.component(component)["streamReplicas"]
        assert replicas == expected, "the trial NATS is one server: streams of one replica"


# -- migrations and database credentials --------------------------------------------------------


def hook(doc: Doc) -> tuple[set[str], int]:
    annotations = doc["metadata"].get("annotations", {})
    phases = set(annotations.get("helm.sh/hook", "").split(",")) - {""}
    return phases, int(annotations.get("helm.sh/hook-weight", "0"))


def exists_by(doc: Doc, phase: str, weight: int) -> bool:
    """Does the object exist when a hook of this phase and weight runs?"""
    phases, own_weight = hook(doc)
    if not phases:
        # Part of the release: created after the pre-install hooks, before the post-install ones.
        return phase in ("post-install", "pre-upgrade", "post-upgrade")
    if phase in phases:
        return own_weight < weight
    return phase == "post-install" and "pre-install" in phases


def test_migrations_run_as_a_hook_before_the_new_pods(case: Case) -> None:
    deployments = case.out.by_component("Deployment")
    entry = importlib.metadata.entry_points(group="console_scripts", name="xinyi-migrate")
    assert [e.value for e in entry] == ["xinyi_kit.migrate:main"]
    jobs = [j for j in case.out.of_kind("Job") if j["metadata"]["labels"][COMPONENT] == "migrate"]
    assert len(jobs) == len(case.services)
    # The trial's PostgreSQL is part of the release: it exists only after install.
    phases = {"post-install", "pre-upgrade"} if case.trial else {"pre-install", "pre-upgrade"}
    needed: list[Doc] = [case.out.by_component("ServiceAccount")["migrate"]]
    if not case.values["postgresql"]["existingSecret"]:
        needed.append(case.out.by_component("Secret")["database"])
    for job in jobs:
        job_phases, weight = hook(job)
        assert job_phases == phases, job["metadata"]["name"]
        for doc in needed:
            for phase in job_phases:
                assert exists_by(doc, phase, weight), (doc["metadata"]["name"], phase)
        container = job["spec"]["template"]["spec"]["containers"][0]
        command, service = container["command"][0], container["command"][1]
        assert command == "xinyi-migrate" and service in xinyi_kit.migrate.SERVICES
        # The service's own image: it carries that service's migrations.
        assert container["image"] == main_container(deployments[service])["image"]
        assert set(env_items(container)) == migrate_reads()
        url = env_items(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert url["key"] == "admin-url"


def test_database_urls_name_each_service_role(case: Case) -> None:
    if case.values["postgresql"]["existingSecret"]:
        pytest.skip("the operator's Secret holds the URLs")
    pg = case.values["postgresql"]
    data = case.out.by_component("Secret")["database"]
    secret = secret_data(data)
    host = f"{case.fullname}-postgresql" if case.trial else pg["host"]
    port = 5432 if case.trial else pg["port"]
    query = {"ssl": "require"} if pg["urlQuery"] == "ssl=require" else {}
    admin = make_url(_asyncpg_url(secret["admin-url"]))
    assert (admin.username, admin.password) == (pg["admin"]["username"], secret["admin-password"])
    if not case.trial:
        assert admin.password == pg["admin"]["password"], "special characters survive the URL"
    for service in case.services:
        url = make_url(_asyncpg_url(secret[f"{service}-url"]))
        assert url.username == xinyi_kit.migrate.app_role(service)
        # The migration sets this password on the role the service logs in as.
        assert url.password == secret[f"{service}-password"]
        assert (url.host, url.port, url.database) == (host, port, pg["database"])
        assert dict(url.query) == query
        if service in pg["appPasswords"]:
            assert url.password == pg["appPasswords"][service]


# -- network policies ---------------------------------------------------------------------------


def expected_edges(case: Case) -> set[tuple[str, str, int]]:
    """Every connection the code makes between pods of the release, and no other."""
    edges = set()
    for caller in case.components:
        for callee in calls_in_code(caller):
            if callee in case.services:
                edges.add((caller, callee, case.component(callee)["grpcPort"]))
    if case.trial:
        for service in case.services:
            edges |= {(service, "postgresql", 5432), (service, "nats", 4222)}
        edges.add(("migrate", "postgresql", 5432))
        edges.add(("bucket", "objectstorage", 9000))
        if case.ledger_s3:
            edges.add(("ledger", "objectstorage", 9000))
    return edges


def test_network_policies_allow_exactly_the_calls_the_code_makes(case: Case) -> None:
    policies = case.out.of_kind("NetworkPolicy")
    evaluator = Policies(policies, NAMESPACE)
    for policy in policies:
        own = policy["metadata"]["labels"][COMPONENT]
        assert pods_selected(case, policy["spec"]["podSelector"]) == {own}
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction) or []:
                for peer in rule.get(key) or []:
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        assert pods_selected(case, peer["podSelector"]), (own, peer)
    covered = {p["metadata"]["labels"][COMPONENT] for p in policies}
    assert covered == {pod.component for pod in case.pods}, "every pod is behind a policy"
    assert evaluator.edges(case.pods) == expected_edges(case)


def test_strangers_reach_only_the_gateway(case: Case) -> None:
    evaluator = Policies(case.out.of_kind("NetworkPolicy"), NAMESPACE)
    stranger = Pod("stranger", {"app": "something-else"}, NAMESPACE)
    controller = Pod("ingress", {"app": "ingress-nginx"}, "ingress-nginx")
    prometheus = Pod("prometheus", {"app.kubernetes.io/name": "prometheus"}, "monitoring")
    dns = Pod("dns", {"k8s-app": "kube-dns"}, "kube-system")
    gateway_from = case.values["networkPolicy"]["gatewayFrom"]
    for pod in case.pods:
        for number, _ in set(pod.ports().values()):
            if pod.component == "gateway":
                assert evaluator.allows(controller, pod, number)
                assert evaluator.allows(stranger, pod, number) == (not gateway_from)
                continue
            assert not evaluator.allows(stranger, pod, number), (pod.workload, number)
            metrics = pod.ports().get("metrics", (None,))[0] == number
            scraped = metrics and bool(case.values["networkPolicy"]["metricsFrom"])
            assert evaluator.allows(prometheus, pod, number) is scraped, (pod.workload, number)
        if pod.component not in TRIAL_SERVERS:
            assert evaluator.allows(pod, dns, 53, "UDP"), f"{pod.workload} cannot resolve names"


def test_only_services_reach_the_external_servers(case: Case) -> None:
    if case.trial:
        pytest.skip("the trial servers are pods: the edges test covers them")
    evaluator = Policies(case.out.of_kind("NetworkPolicy"), NAMESPACE)
    postgres = case.values["postgresql"]["port"]
    nats = case.values["nats"]["port"]
    if case.values["nats"]["url"]:
        nats = int(case.values["nats"]["url"].rsplit(":", 1)[1])
    for pod in case.pods:
        outside = {port for port in (postgres, nats) if evaluator.reaches_outside(pod, port)}
        if pod.component in SERVICES:
            assert outside == {postgres, nats}, pod.workload
        elif pod.component == "migrate":
            assert outside == {postgres}
        else:
            assert not outside, f"{pod.workload} may reach PostgreSQL or NATS"
    if case.ledger_s3:
        endpoint = case.values["objectStorage"]["endpoint"]
        port = int(endpoint.rsplit(":", 1)[1]) if endpoint.count(":") == 2 else 443
        for pod in case.pods_of("ledger"):
            assert evaluator.reaches_outside(pod, port)
        for pod in case.pods_of("gateway"):
            assert not evaluator.reaches_outside(pod, port)


def test_network_policies_can_be_left_out(chart: helm.Chart) -> None:
    out = render(chart, merged(EXTERNAL, {"networkPolicy": {"enabled": False}}), NAMESPACE)
    assert not out.of_kind("NetworkPolicy")


# -- the rest -----------------------------------------------------------------------------------


def test_notes_tell_the_operator_where_to_start(case: Case) -> None:
    notes = case.out.notes
    assert "operator" in notes
    assert ("TRIAL MODE" in notes) is case.trial
    if case.values["gateway"]["ingress"]["enabled"]:
        assert "https://xinyi.city.example/" in notes
    else:
        assert "port-forward" in notes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_trial_bucket_job_creates_the_bucket(chart: helm.Chart, tmp_path: Path) -> None:
    """The Job's script, run against an S3 server (moto's), twice: it creates, then finds."""
    out = render(chart, VALUE_SETS["trial"], NAMESPACE)
    job = next(j for j in out.of_kind("Job") if j["metadata"]["labels"][COMPONENT] == "bucket")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["python", "-c"]
    names = set(env_items(container))
    assert names <= env_names(settings_class("ledger")), "the ledger's own setting names"
    port = free_port()
    log = tmp_path / "moto.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.1)
        env = {
            **{n: item.get("value", "test") for n, item in env_items(container).items()},
            "XINYI_S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "PATH": os.environ.get("PATH", ""),
        }
        outputs = []
        for _ in range(2):
            run = subprocess.run(
                [sys.executable, *container["command"][1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stderr
            outputs.append(run.stdout.strip())
        bucket = env["XINYI_S3_BUCKET"]
        assert outputs == [f"created bucket {bucket}", f"bucket {bucket} exists"]
    finally:
        server.terminate()
        server.wait(10)
