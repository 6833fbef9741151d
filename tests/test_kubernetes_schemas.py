"""Every manifest must pass kubernetes-validate --strict for Kubernetes 1.27 and the newest bundled version."""

from __future__ import annotations

import pytest
import kubernetes_validate
from kubernetes_validate.utils import latest_version

import yaml

from conftest import DATA, synth
from test_chart import VARIANTS

# Istio objects have no schema in kubernetes-validate; their shape is tested in test_ingress.
CUSTOM_KINDS = {"VirtualService", "AuthorizationPolicy"}
VERSIONS = ["1.27.0", latest_version()]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_manifests_pass_strict_schema(variant, version):
    manifests = [m for m in synth(VARIANTS[variant]) if m["kind"] not in CUSTOM_KINDS]

    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)

    assert {m["kind"] for m in manifests} >= {"Deployment", "Service"}


def test_strict_validation_can_fail():
    deployment = next(m for m in synth() if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["unknownField"] = 1

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.27.0", strict=True)


# These inputs are rejected on purpose; test_values and test_bad_settings check how.
REJECTED_FILES = {"c1-injection", "c2", "c6-mismatch", "c8-no-model"}
ACCEPTED_FILES = sorted(
    path
    for path in [DATA / "seed-values.yaml", *(DATA / "cases").glob("*.yaml")]
    if path.stem not in REJECTED_FILES
)


@pytest.mark.parametrize("path", ACCEPTED_FILES, ids=lambda path: path.stem)
def test_values_files_give_valid_manifests(path):
    settings = yaml.safe_load(path.read_text()) or {}

    manifests = [m for m in synth(settings) if m["kind"] not in CUSTOM_KINDS]

    for manifest in manifests:
        kubernetes_validate.validate(manifest, VERSIONS[-1], strict=True)
    assert any(m["kind"] == "Deployment" for m in manifests)
