"""Render the generated chart with the real helm binary, and the constructs the same way."""

from __future__ import annotations

import difflib
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from llamafactory_cdk8s.helm_templates import synthesize_objects
from llamafactory_cdk8s.loading import values_from_mapping

REPO = Path(__file__).resolve().parent.parent
CHART_DIR = REPO / "dist" / "llamafactory"
ARCHIVE = REPO / "dist" / "llamafactory-0.1.0.tgz"

HELM_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")
"""Helm's own bookkeeping labels, which only the chart writes."""

Manifest = dict[str, Any]


class HelmError(Exception):
    """helm exited with an error; the message is its stderr."""


def helm_template(
    settings: Mapping[str, Any] | str | None,
    *,
    release: str = "llamafactory",
    namespace: str = "llamafactory",
    chart: Path = CHART_DIR,
    extra: tuple[str, ...] = (),
) -> list[Manifest]:
    """Run ``helm template`` with the settings (a mapping, or YAML text) as a values file."""
    with tempfile.TemporaryDirectory() as directory:
        command = ["helm", "template", release, str(chart), "--namespace", namespace, *extra]
        if settings is not None:
            path = Path(directory) / "values.yaml"
            # JSON is YAML; DEL is the one control character json.dumps leaves raw,
            # and Helm's YAML parser refuses raw control characters.
            text = settings if isinstance(settings, str) else json.dumps(dict(settings), ensure_ascii=False)
            text = text.replace("\x7f", "\\u007f")
            path.write_text(text, encoding="utf-8")
            command += ["-f", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip())
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def without_helm_labels(manifest: Manifest) -> Manifest:
    """Drop Helm's bookkeeping labels from an object and its pod templates (a
    PyTorchJob has one per replica type)."""
    spec = manifest.get("spec", {})
    templates = [spec.get("template", {})]
    templates += [replica.get("template", {}) for replica in spec.get("pytorchReplicaSpecs", {}).values()]
    for metadata in (manifest.get("metadata", {}), *(template.get("metadata", {}) for template in templates)):
        labels = metadata.get("labels")
        if labels:
            for label in HELM_LABELS:
                labels.pop(label, None)
    return manifest


def python_objects(
    settings: Mapping[str, Any] | None, *, release: str = "llamafactory", namespace: str = "llamafactory"
) -> list[Manifest]:
    """Synthesize the constructs, plus the helm test pod, for the same settings."""
    values = values_from_mapping({**dict(settings or {}), "releaseName": release, "namespace": namespace})
    return synthesize_objects(values)


def by_identity(manifests: list[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    keyed = {}
    for manifest in manifests:
        metadata = manifest["metadata"]
        key = (manifest["kind"], metadata.get("namespace", ""), metadata["name"])
        assert key not in keyed, f"two objects are {key}"
        keyed[key] = manifest
    return keyed


def assert_same_objects(helm: list[Manifest], python: list[Manifest]) -> None:
    """Assert that both renders hold the same objects, Helm's bookkeeping labels aside."""
    rendered = by_identity([without_helm_labels(manifest) for manifest in helm])
    synthesized = by_identity(python)
    assert sorted(rendered) == sorted(synthesized)
    for key, manifest in synthesized.items():
        if rendered[key] != manifest:
            diff = difflib.unified_diff(
                yaml.safe_dump(manifest).splitlines(),
                yaml.safe_dump(rendered[key]).splitlines(),
                "constructs",
                "helm",
                lineterm="",
                n=2,
            )
            raise AssertionError(f"{key} differs:\n" + "\n".join(diff))
