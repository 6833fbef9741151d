"""Smoke tests of benchmarks/bench_render.py: it runs and reports, without checking times."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT, require_tool

SCRIPT = ROOT / "benchmarks" / "bench_render.py"


def run_benchmark(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
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
