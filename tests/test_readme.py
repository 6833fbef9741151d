"""The README's Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_readme_example_synthesizes(tmp_path):
    blocks = python_blocks()

    # A fresh interpreter in a fresh directory, as a reader would run it: the jsii
    # runtime resolves the relative outdir against its own working directory.
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr
    manifests = list(yaml.safe_load_all((tmp_path / "out" / "finetune.k8s.yaml").read_text()))
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert len(blocks) == 1
    assert deployment["metadata"]["name"] == "finetune-llamafactory"
    assert deployment["metadata"]["namespace"] == "ml-team"
    assert container["args"][:2] == ["--model_name_or_path", "Qwen/Qwen2.5-7B-Instruct"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
