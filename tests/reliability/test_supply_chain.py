"""The supply chain: the SBOM lists exactly the lock's runtime packages at their locked versions
(with licences and the dependency graph, without the development tools), and the dependency
audit fails on a known vulnerability and never passes silently when it could audit nothing.
Neither needs the network: the SBOM's environment comes from uv's cache, and the audit's verdict
is judged on pip-audit's own report format."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from xinyi_dev import supply_chain

ROOT = Path(__file__).resolve().parents[2]


def locked_runtime() -> dict[str, str]:
    """name -> version of every package the lock installs for the services (no dev groups)."""
    exported = subprocess.run(
        [
            str(ROOT / supply_chain.UV),
            "export",
            "--project",
            str(ROOT),
            "--frozen",
            "--all-packages",
            "--no-dev",
            "--no-emit-workspace",
            "--no-hashes",
            "--format",
            "requirements.txt",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", exported, re.MULTILINE)
    return {normal(name): version for name, version in pins}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_sbom_lists_every_locked_runtime_package_at_its_version(tmp_path: Path) -> None:
    target = supply_chain.sbom(ROOT, tmp_path)
    bom = json.loads(target.read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "xinyi"
    listed = {normal(c["name"]): c["version"] for c in bom["components"]}
    locked = locked_runtime()
    assert len(locked) > 50
    assert listed == locked
    assert "pytest" not in listed and "pip-audit" not in listed, "development tools are not shipped"
    for component in bom["components"]:
        assert component["purl"] == f"pkg:pypi/{normal(component['name'])}@{component['version']}"
    with_licence = [c for c in bom["components"] if c.get("licenses")]
    assert len(with_licence) >= 0.9 * len(bom["components"])
    graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    fastapi = next(c["bom-ref"] for c in bom["components"] if normal(c["name"]) == "fastapi")
    assert any("starlette" in ref.lower() for ref in graph[fastapi])


def report(*deps: dict[str, object]) -> dict[str, object]:
    return {"dependencies": list(deps), "fixes": []}


def test_a_known_vulnerability_fails_the_audit() -> None:
    verdict = supply_chain.judge(
        report(
            {
                "name": "jinja2",
                "version": "3.1.2",
                "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": []}],
            },
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        )
    )
    assert not verdict.ok
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in "\n".join(verdict.lines)


def test_an_audit_that_reached_nothing_says_so_and_fails_when_strict() -> None:
    unreachable = report(
        {"name": "httpx", "skip_reason": "Dependency not found on PyPI and could not be audited"},
        {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    )
    lenient, strict = supply_chain.judge(unreachable), supply_chain.judge(unreachable, strict=True)
    assert lenient.ok and not strict.ok
    assert "NOT AUDITED" in lenient.lines[0] and "none of the 2" in lenient.lines[0]


def test_a_clean_audit_names_what_it_could_not_check() -> None:
    verdict = supply_chain.judge(
        report(
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {"name": "private-thing", "skip_reason": "Dependency not found on PyPI"},
        )
    )
    assert verdict.ok
    assert verdict.lines == [
        "xinyi: dependency audit: 1 packages, no known vulnerability",
        "  not audited (1): private-thing",
    ]
