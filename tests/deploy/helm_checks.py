"""What the Kubernetes schemas cannot check in a rendered chart: which pods a selector picks, which
port a probe hits, and which pod may open a connection to which under the NetworkPolicies.

The NetworkPolicy semantics follow the Kubernetes API reference: a pod selected by a policy of a
direction accepts only what some rule of those policies allows; an empty or missing peer list
matches every peer; a peer's podSelector alone means pods of the policy's own namespace; ipBlock
peers are taken to be addresses outside the cluster.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import helm_python as helm
import yaml

WORKLOADS = ("Deployment", "StatefulSet", "Job")
COMPONENT = "app.kubernetes.io/component"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    docs: list[Doc]
    notes: str

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def by_component(self, kind: str) -> dict[str, Doc]:
        """One object of a kind per component label; fails if two share a component."""
        found: dict[str, Doc] = {}
        for doc in self.of_kind(kind):
            component = doc["metadata"]["labels"][COMPONENT]
            assert component not in found, f"two {kind}s for {component}"
            found[component] = doc
        return found

    def named(self, kind: str, name: str) -> Doc:
        matches = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
        return matches[0]


def render(chart: helm.Chart, values: Mapping[str, Any], namespace: str) -> Rendered:
    """Renders as `helm install` would; every non-empty YAML document becomes a manifest."""
    files = chart.render(dict(values), name="xinyi", namespace=namespace, is_install=True)
    docs: list[Doc] = []
    notes = ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            assert isinstance(doc, dict) and doc.get("kind"), f"{path}: not a manifest: {doc!r}"
            docs.append(doc)
    return Rendered(docs, notes)


# -- pods ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """A pod template of a workload (or a made-up pod, to ask what a stranger may reach)."""

    workload: str
    labels: Mapping[str, str]
    namespace: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    @property
    def component(self) -> str:
        return self.labels.get(COMPONENT, "?")

    @property
    def containers(self) -> list[dict[str, Any]]:
        return [*self.spec.get("initContainers", []), *self.spec.get("containers", [])]

    def ports(self) -> dict[str | int, tuple[int, str]]:
        """Each port a container listens on, by name and by number: (number, protocol)."""
        found: dict[str | int, tuple[int, str]] = {}
        for container in self.spec.get("containers", []):
            for port in container.get("ports", []):
                entry = (port["containerPort"], port.get("protocol", "TCP"))
                found[port["containerPort"]] = entry
                if "name" in port:
                    found[port["name"]] = entry
        return found


def pods(rendered: Rendered, namespace: str) -> list[Pod]:
    return [
        Pod(
            f"{doc['kind']}/{doc['metadata']['name']}",
            doc["spec"]["template"]["metadata"]["labels"],
            namespace,
            doc["spec"]["template"]["spec"],
        )
        for doc in rendered.docs
        if doc["kind"] in WORKLOADS
    ]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions); an empty one selects everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


# -- network policies ---------------------------------------------------------------------------


def namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def peer_matches(peer: Mapping[str, Any], pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False
    namespaces = peer.get("namespaceSelector")
    if namespaces is None:
        in_namespace = pod.namespace == policy_namespace
    else:
        in_namespace = selects(namespaces, namespace_labels(pod.namespace))
    if not in_namespace:
        return False
    if "podSelector" in peer:
        return selects(peer["podSelector"], pod.labels)
    return namespaces is not None


def port_matches(
    rule_ports: list[Mapping[str, Any]] | None, port: int, protocol: str, target: Pod
) -> bool:
    if not rule_ports:
        return True
    for item in rule_ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        if "port" not in item:
            return True
        value = item["port"]
        if isinstance(value, str):
            # A named port is looked up on the destination pod.
            named = target.ports().get(value)
            if named is None:
                continue
            value = named[0]
        if value <= port <= item.get("endPort", value):
            return True
    return False


def policy_types(policy: Doc) -> list[str]:
    """Declared, or by default Ingress, plus Egress when the policy has egress rules."""
    spec = policy["spec"]
    declared: list[str] | None = spec.get("policyTypes")
    if declared is not None:
        return declared
    return ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]


@dataclass(frozen=True)
class Policies:
    policies: list[Doc]
    namespace: str

    def selecting(self, pod: Pod, direction: str) -> list[Doc]:
        return [
            policy
            for policy in self.policies
            if pod.namespace == self.namespace
            and direction in policy_types(policy)
            and selects(policy["spec"]["podSelector"], pod.labels)
        ]

    def _rules_allow(
        self, policies: list[Doc], direction: str, other: Pod, port: int, protocol: str, dst: Pod
    ) -> bool:
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in policies:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(peer_matches(p, other, self.namespace) for p in peers):
                    continue
                if port_matches(rule.get("ports"), port, protocol, dst):
                    return True
        return False

    def allows(self, src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
        """May src open a connection to dst's port? Both ends' policies must agree."""
        egress = self.selecting(src, "Egress")
        if egress and not self._rules_allow(egress, "Egress", dst, port, protocol, dst):
            return False
        ingress = self.selecting(dst, "Ingress")
        return not ingress or self._rules_allow(ingress, "Ingress", src, port, protocol, dst)

    def reaches_outside(self, src: Pod, port: int, protocol: str = "TCP") -> bool:
        """May src connect to an address outside the cluster on this port?"""
        egress = self.selecting(src, "Egress")
        if not egress:
            return True
        outside = Pod("outside", {}, "")
        for policy in egress:
            for rule in policy["spec"].get("egress") or []:
                peers = rule.get("to")
                if peers and not any("ipBlock" in peer for peer in peers):
                    continue
                if port_matches(rule.get("ports"), port, protocol, outside):
                    return True
        return False

    def edges(self, all_pods: Iterable[Pod]) -> set[tuple[str, str, int]]:
        """(from component, to component, port) for every port a pod listens on that another
        pod of the release may connect to."""
        found: set[tuple[str, str, int]] = set()
        listed = list(all_pods)
        for src in listed:
            for dst in listed:
                for number, protocol in set(dst.ports().values()):
                    if self.allows(src, dst, number, protocol):
                        found.add((src.component, dst.component, number))
        return found


# -- containers ---------------------------------------------------------------------------------


def probes(container: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]


def probe_port(probe: Mapping[str, Any]) -> int | str | None:
    """The port a probe connects to (None for exec probes, which connect nowhere)."""
    for handler in ("grpc", "httpGet", "tcpSocket"):
        if handler in probe:
            port: int | str = probe[handler]["port"]
            return port
    assert "exec" in probe, probe
    return None


def secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data
