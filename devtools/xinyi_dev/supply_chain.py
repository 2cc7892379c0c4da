"""`make sbom` and `make audit`: what the locked dependencies are, and whether any is known to be
vulnerable.

The SBOM (CycloneDX JSON, `build/sbom.cdx.json`) describes what the services run on: the lock's
runtime dependencies of every workspace package, installed into an environment of their own
(`build/sbom-env`, from uv's cache) so that each component carries its licence and its
dependencies; development tools are not in it.

The audit asks PyPI's vulnerability data about every locked package, the development tools too
(pip-audit, `--vulnerability-service pypi`, from the hashed requirements uv exports). Where PyPI
cannot answer for a single package (no network, or a mirror without PyPI's JSON API), nothing was
audited: that is said loudly, and fails only with XINYI_AUDIT_STRICT=1, so lint still runs
offline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUILD = Path("build")
SBOM = BUILD / "sbom.cdx.json"
SBOM_ENV = BUILD / "sbom-env"
LOCKED = BUILD / "requirements.lock.txt"
AUDIT = BUILD / "audit.json"
UV = Path(".tools/bin/uv")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"xinyi: {Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


def sbom(root: Path, out: Path | None = None, uv: Path = UV) -> Path:
    """Writes the SBOM of the lock's runtime dependencies (under `out`, default `build/`); its
    path."""
    out = out or root / BUILD
    env_dir, target = out / SBOM_ENV.name, out / SBOM.name
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(env_dir)}
    env.pop("VIRTUAL_ENV", None)
    _run(
        [
            str(root / uv),
            "sync",
            "--project",
            str(root),
            "--frozen",
            "--no-dev",
            "--all-packages",
            "--no-install-workspace",
            "--quiet",
        ],
        env,
    )
    # The root component's own dependencies are the workspace packages, which are not installed
    # there; cyclonedx warns about that.
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore::UserWarning"}
    _run(
        [
            _bin("cyclonedx-py"),
            "environment",
            str(env_dir / "bin" / "python"),
            "--pyproject",
            str(root / "pyproject.toml"),
            "--output-reproducible",
            "--output-file",
            str(target),
        ],
        quiet,
    )
    return target


@dataclass
class Verdict:
    ok: bool
    lines: list[str] = field(default_factory=list)


def judge(report: dict[str, Any], strict: bool = False) -> Verdict:
    """What a pip-audit JSON report means for lint: any known vulnerability fails it; an audit
    that reached no package says so, and fails only when `strict`."""
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = len(deps) - len(skipped)
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        lines.insert(0, f"xinyi: dependency audit: {len(lines)} known vulnerabilities")
        return Verdict(False, lines)
    if deps and not audited:
        return Verdict(
            not strict,
            [
                f"xinyi: dependency audit: NOT AUDITED - the vulnerability service answered for "
                f"none of the {len(deps)} locked packages ({skipped[0]['skip_reason']})",
            ],
        )
    lines.append(f"xinyi: dependency audit: {audited} packages, no known vulnerability")
    if skipped:
        names = ", ".join(sorted(d["name"] for d in skipped))
        lines.append(f"  not audited ({len(skipped)}): {names}")
    return Verdict(True, lines)


def audit(root: Path, uv: Path = UV, strict: bool = False) -> Verdict:
    locked, report = root / LOCKED, root / AUDIT
    locked.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            str(root / uv),
            "export",
            "--project",
            str(root),
            "--frozen",
            "--all-packages",
            "--all-groups",
            "--no-emit-workspace",
            "--format",
            "requirements.txt",
            "--quiet",
            "--output-file",
            str(locked),
        ]
    )
    # Exit code 1 means "vulnerabilities found"; the report says which, so judge that instead.
    done = subprocess.run(
        [
            _bin("pip-audit"),
            "--disable-pip",
            "--requirement",
            str(locked),
            "--vulnerability-service",
            "pypi",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if not report.exists():
        raise SystemExit(f"xinyi: pip-audit wrote no report: {done.stderr.strip()[-2000:]}")
    return judge(json.loads(report.read_text()), strict)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="xinyi-supply-chain", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("sbom", "audit"))
    args = parser.parse_args(argv)
    root = Path.cwd()
    if args.command == "sbom":
        target = sbom(root)
        count = len(json.loads(target.read_text()).get("components", []))
        print(f"xinyi: SBOM of {count} locked runtime packages in {target.relative_to(root)}")
        return
    verdict = audit(root, strict=os.environ.get("XINYI_AUDIT_STRICT") == "1")
    print("\n".join(verdict.lines), file=sys.stdout if verdict.ok else sys.stderr)
    if not verdict.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
