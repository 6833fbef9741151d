"""Smoke tests of the scripts in benchmarks/: they run and report, without checking times."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from conftest import ROOT, require_tool

SCRIPT = ROOT / "benchmarks" / "bench_render.py"
INSTALL_SCRIPT = ROOT / "benchmarks" / "bench_install.py"
BARE_CHART = ROOT / "benchmarks" / "bare-deployment"
OUR_CHART = ROOT / "dist" / "llamafactory"


def run_benchmark(
    *args: str, cwd, env: dict[str, str] | None = None, script=SCRIPT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_reports_both_ratios(tmp_path):
    require_tool("helm")

    # The plain chart is rendered in place of ours, so the test does not need dist/.
    result = run_benchmark("--runs", "1", "--helm-runs", "2", "--chart", "benchmarks/plain-chart", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert re.search(r"^ratio app\.py / import floor: \d+\.\d\dx median", result.stdout, re.MULTILINE)
    assert re.search(r"^ratio our chart / plain chart: \d+\.\d\dx median", result.stdout, re.MULTILINE)
    assert "cpu: " in result.stdout
    assert "helm: v" in result.stdout
    assert "import cdk8s_plus_27" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_missing_helm_reported(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}

    result = run_benchmark("--runs", "1", cwd=tmp_path, env=env)

    assert result.returncode == 1
    assert "helm not found on PATH" in result.stderr
    assert result.stdout == ""


def test_missing_chart_reported(tmp_path):
    require_tool("helm")

    result = run_benchmark("--runs", "1", "--chart", str(tmp_path / "nothing"), cwd=tmp_path)

    assert result.returncode == 1
    assert "nothing/Chart.yaml is missing" in result.stderr


# -- bench_install.py ----------------------------------------------------------------


def rendered_pod_template(chart) -> dict[str, Any]:
    helm = require_tool("helm")
    rendered = subprocess.run(
        [helm, "template", "x", str(chart)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    deployments = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Deployment"]
    assert len(deployments) == 1, f"{chart} renders {len(deployments)} Deployments"
    return deployments[0]["spec"]["template"]


def test_bare_chart_schedules_like_ours():
    ours = rendered_pod_template(OUR_CHART)
    bare = rendered_pod_template(BARE_CHART)
    our_container = ours["spec"]["containers"][0]
    bare_container = bare["spec"]["containers"][0]

    assert bare_container["image"] == our_container["image"]
    assert bare_container["resources"] == our_container["resources"]
    assert bare["spec"].get("tolerations") == ours["spec"].get("tolerations")
    assert bare["spec"].get("nodeSelector") == ours["spec"].get("nodeSelector")
    assert bare["spec"].get("affinity") == ours["spec"].get("affinity")
    for label in ("hpe-ezua/app", "hpe-ezua/component", "hpe-ezua/type"):
        assert bare["metadata"]["labels"].get(label) == ours["metadata"]["labels"].get(label), label


def test_bare_chart_has_no_claims():
    pod = rendered_pod_template(BARE_CHART)

    assert not any("persistentVolumeClaim" in volume for volume in pod["spec"].get("volumes", []))


def test_install_missing_chart_reported(tmp_path):
    result = run_benchmark("--chart", str(tmp_path / "nothing.tgz"), cwd=tmp_path, script=INSTALL_SCRIPT)

    assert result.returncode == 1
    assert "chart not found" in result.stderr
    assert "nothing.tgz" in result.stderr
    assert result.stdout == ""


@pytest.mark.cluster
def test_install_reports_ratio(tmp_path):
    # The script starts a test cluster of its own, as a benchmark run does.
    result = run_benchmark("--runs", "1", cwd=tmp_path, script=INSTALL_SCRIPT, timeout=600)

    assert result.returncode == 0, result.stderr
    assert re.search(r"^ratio our chart / bare chart: \d+\.\d\dx median \(target", result.stdout, re.MULTILINE)
    assert re.search(r"^  our chart +median +\d+\.\d\d s", result.stdout, re.MULTILINE)
    assert re.search(r"^  bare chart +median +\d+\.\d\d s", result.stdout, re.MULTILINE)
    assert re.search(r"^  last claim Bound +\d+\.\d\d +-$", result.stdout, re.MULTILINE)
    assert "kubernetes: v1.33" in result.stdout
    assert "helm install returns (without --wait)" in result.stdout
    assert "run 1: our chart" in result.stderr
    assert list(tmp_path.iterdir()) == []
