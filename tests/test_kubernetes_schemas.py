"""Every manifest must pass kubernetes-validate --strict for Kubernetes 1.27 and the newest bundled version."""

from __future__ import annotations

import pytest
import kubernetes_validate
from kubernetes_validate.utils import latest_version

from conftest import synth
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
