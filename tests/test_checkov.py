"""checkov on the generated Helm chart, offline: at most MAX_FINDINGS failed or suppressed checks.

checkov runs from .tools/checkov-venv (scripts/setup-checkov.sh) on a copy of
dist/llamafactory, which `python app.py` writes. Its helm framework renders the
chart with `helm template` and the default values, then runs its Kubernetes
checks on the output. A suppressed check (a `checkov.io/skip` annotation) counts
like a failed one, and docs/checkov.md must justify every such finding by check id
and kind of resource.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, require_tool

CHART = ROOT / "dist" / "llamafactory"
CHECKOV = ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
DOC_NAME = "docs/checkov.md"
DOC = ROOT / DOC_NAME

# Failed plus suppressed checks, each counted once per resource, as checkov's
# summary counts them. The hand-written chart that this project replaces fails
# 33 on its default render (a figure measured before this project, not here).
MAX_FINDINGS = 4

# Prefixes of the variables that configure checkov: an API key (BC_API_KEY)
# would send the scan to Prisma Cloud, and CKV_SKIP_CHECK would hide checks.
# They are removed from checkov's environment before OFFLINE_ENV is added.
CHECKOV_VARIABLE_PREFIXES = ("BC_", "CKV_", "CHECKOV_", "PRISMA_")

# Without an API key checkov scans locally. BC_SKIP_MAPPING (like
# --skip-download) stops the download of policy metadata and guidelines from
# Prisma Cloud, and CKV_SKIP_PACKAGE_UPDATE_CHECK stops the version query to
# PyPI. An allow-list that matches no URL makes checkov skip a chart with an
# http(s) dependency instead of letting `helm template --dependency-update`
# download it, and the scan fixture then fails because nothing was scanned.
# checkov 3.3.30 reads all three. docs/checkov.md describes how the absence of
# network traffic was checked.
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "CHECKOV_HELM_ALLOWED_REMOTE_REPOS": "none",
}

# `helm template` renders .Release.Namespace from HELM_NAMESPACE, as
# `helm install --namespace llamafactory` would. Without it every namespaced
# object lands in `default` and fails CKV_K8S_21 ("The default namespace should
# not be used"), although the chart never chooses the namespace itself.
RELEASE_NAMESPACE = "llamafactory"

# Any HTTP request that a later checkov makes despite OFFLINE_ENV goes to this
# closed local port and fails, instead of leaving the machine.
CLOSED_PROXY = "http://127.0.0.1:9"

# The table of justified findings in docs/checkov.md sits between these lines.
# Its first two cells are the check id and the kind of the resource.
DOC_TABLE = re.compile(r"<!-- checkov-findings:start -->\n(.*?)<!-- checkov-findings:end -->", re.DOTALL)
DOC_ROW = re.compile(r"^\|\s*`?(CKV2?_[A-Z0-9]+_\d+)`?\s*\|\s*`?([A-Za-z]+)`?\s*\|", re.MULTILINE)


@dataclass
class Scan:
    """checkov's JSON report, reduced to what the tests read."""

    check_types: set[str] = field(default_factory=set)
    passed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.failed + self.suppressed

    @property
    def resources(self) -> set[str]:
        return {result["resource"] for result in self.passed + self.failed + self.suppressed}

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(self.stderr.splitlines()[-lines:])


def require_path(path: Path, hint: str) -> None:
    """Skip when ``path`` is missing, but fail under CI=true, as ``require_tool`` does."""
    if path.exists():
        return
    message = f"{path} not found; {hint}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def checkov_env(home: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(CHECKOV_VARIABLE_PREFIXES)
    }
    env.update(OFFLINE_ENV)
    env["HELM_NAMESPACE"] = RELEASE_NAMESPACE
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = CLOSED_PROXY
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    # checkov reads .checkov.yaml from the working directory and from HOME,
    # and helm keeps its cache under HOME: neither may come from the developer.
    env["HOME"] = str(home)
    return env


def parse_report(stdout: str, stderr: str) -> Scan:
    """Read checkov's JSON: one report object, a list of them, or a bare summary when nothing ran."""
    data = json.loads(stdout)
    reports = data if isinstance(data, list) else [data]
    scan = Scan(stderr=stderr)
    for report in reports:
        if "check_type" in report:
            scan.check_types.add(report["check_type"])
        results = report.get("results", {})
        scan.passed += results.get("passed_checks", [])
        scan.failed += results.get("failed_checks", [])
        scan.suppressed += results.get("skipped_checks", [])
        scan.parsing_errors += results.get("parsing_errors", [])
    return scan


def describe(findings: list[dict[str, Any]]) -> str:
    lines = []
    for finding in findings:
        line = f"  {finding['check_id']} {finding['resource']} ({finding['file_path']}): {finding['check_name']}"
        result = finding.get("check_result", {})
        if result.get("result") == "SKIPPED":
            line += f" [suppressed: {result.get('suppress_comment', 'no reason given')}]"
        lines.append(line)
    return "\n".join(lines)


def finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    """Return (check id, kind): checkov names a resource ``Kind.namespace.name``."""
    return finding["check_id"], finding["resource"].split(".", 1)[0]


def documented_findings() -> set[tuple[str, str]]:
    match = DOC_TABLE.search(DOC.read_text())
    assert match is not None, f"{DOC_NAME} has no checkov-findings table markers"
    return set(DOC_ROW.findall(match.group(1)))


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    require_tool("helm")
    require_path(CHECKOV, "run scripts/setup-checkov.sh")
    require_path(CHART / "Chart.yaml", "run 'make dist' (python app.py writes the chart)")

    # A copy keeps checkov and helm from writing into dist/, which check-dist compares.
    work = tmp_path_factory.mktemp("checkov")
    chart = work / CHART.name
    shutil.copytree(CHART, chart)
    home = work / "home"
    home.mkdir()
    command = [
        str(CHECKOV), "--directory", str(chart), "--framework", "helm", "--skip-download", "--output", "json",
    ]

    result = subprocess.run(
        command, cwd=home, env=checkov_env(home), capture_output=True, text=True, timeout=600
    )

    # checkov exits 1 when a check fails and 0 otherwise, also when it scanned nothing.
    assert result.returncode in (0, 1), f"checkov exited with status {result.returncode}:\n{result.stderr}"
    scan = parse_report(result.stdout, result.stderr)
    # Every test below would pass on an empty report, so stop here when there is one.
    assert scan.resources, f"checkov scanned no resource; helm may have failed. stderr ends with:\n{scan.stderr_tail()}"
    return scan


def test_chart_has_no_checkov_config():
    require_path(CHART / "Chart.yaml", "run 'make dist' (python app.py writes the chart)")

    # A .checkov.yaml in the chart would apply its skip-check list silently.
    configs = [path.name for path in CHART.glob(".checkov.y*ml")]

    assert configs == []


def test_scan_covers_deployment(scan):
    assert scan.check_types == {"helm"}, f"checkov ran no helm scan; its stderr ends with:\n{scan.stderr_tail()}"
    assert len(scan.passed) + len(scan.failed) > 0, (
        f"checkov evaluated no check; helm may have failed to render the chart. stderr ends with:\n{scan.stderr_tail()}"
    )
    assert any(resource.startswith("Deployment.") for resource in scan.resources), (
        f"checkov scanned no Deployment, only {sorted(scan.resources)}"
    )
    assert scan.parsing_errors == []


def test_findings_within_budget(scan):
    findings = scan.findings
    count = len(findings)

    assert count <= MAX_FINDINGS, (
        f"checkov reports {count} failed or suppressed checks, more than {MAX_FINDINGS}:\n{describe(findings)}"
    )


def test_findings_justified_in_doc(scan):
    documented = documented_findings()

    unjustified = [finding for finding in scan.findings if finding_key(finding) not in documented]

    assert unjustified == [], (
        f"{len(unjustified)} findings have no row (check id, kind, justification) in {DOC_NAME}:\n"
        + describe(unjustified)
    )


def test_doc_lists_only_current_findings(scan):
    found = {finding_key(finding) for finding in scan.findings}

    stale = documented_findings() - found

    assert stale == set(), (
        f"{DOC_NAME} justifies findings that checkov no longer reports; remove their rows: {sorted(stale)}"
    )
