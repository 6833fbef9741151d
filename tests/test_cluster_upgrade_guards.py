"""Upgrades that Kubernetes would reject on an existing claim, stopped by the chart.

Without the chart's lookup checks (``llamafactory.validateLiveClaims`` in
``_helpers.tpl``), Helm applies the release's objects one at a time and fails at
the first claim the API server rejects, after it has already changed the
Deployment and created the training objects. A new ``fullnameOverride`` or
``nameOverride`` made Helm create new empty claims. Each rejected upgrade here must
fail with the chart's message and leave every object, the pod and the release
history exactly as they were.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_support import (
    CHART_ARCHIVE,
    CLAIM_SUFFIXES,
    claims,
    helm_install,
    namespace_name,
    release_status,
    running_pod,
    workload_pods,
    write_values,
)
from kube_cluster import IMMEDIATE_CLASS, WAIT_CLASS, LocalCluster

pytestmark = pytest.mark.cluster

RELEASE = "lf"
FULLNAME = f"{RELEASE}-llamafactory"
OUTPUT_CLAIM = f"{FULLNAME}-output"
DATA_CLAIM = f"{FULLNAME}-data"
ALL_CLAIMS = {f"{FULLNAME}-{suffix}" for suffix in CLAIM_SUFFIXES.values()}

# The output claim gets an explicit class and size at install, so that a changed
# class and a smaller size can be tried on it.
INSTALL = {"persistence": {"output": {"storageClass": WAIT_CLASS, "size": "50Gi"}}}
MULTI_NODE_TRAINING = {
    "training": {
        "enabled": True,
        "nodes": 2,
        "args": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "dataset": "identity", "template": "qwen"},
    },
    "persistence": {
        "hfCache": {"accessMode": "ReadWriteMany"},
        "data": {"accessMode": "ReadWriteMany"},
        "output": {"accessMode": "ReadWriteMany", "storageClass": WAIT_CLASS, "size": "50Gi"},
    },
}

# Resources that Helm does not own or that controllers update on their own.
UNTRACKED_RESOURCES = {"events", "events.events.k8s.io", "endpoints", "endpointslices.discovery.k8s.io", "pods"}


def _namespaced_resources(cluster: LocalCluster) -> list[str]:
    listed = cluster.kubectl("api-resources", "--namespaced=true", "--verbs=list", "-o", "name").stdout.split()
    return sorted(set(listed) - UNTRACKED_RESOURCES)


def _objects(cluster: LocalCluster, namespace: str, resources: list[str]) -> dict[tuple[str, str, str], str]:
    """Every object in ``namespace``, plus the release's objects elsewhere, by (kind, namespace, name)."""
    found = cluster.get(",".join(resources), "-n", namespace)["items"]
    elsewhere = yaml.safe_load_all(cluster.helm("get", "manifest", RELEASE, "-n", namespace).stdout)
    for document in elsewhere:
        other = (document or {}).get("metadata", {}).get("namespace")
        if other and other != namespace:
            found.append(cluster.get(document["kind"], document["metadata"]["name"], "-n", other))
    return {
        (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"]): item["metadata"]["resourceVersion"]
        for item in found
    }


def _snapshot(cluster: LocalCluster, namespace: str, resources: list[str]) -> dict[str, Any]:
    """What a rejected upgrade must leave alone."""
    history = json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json").stdout)
    return {
        "history": [(entry["revision"], entry["status"]) for entry in history],
        "objects": _objects(cluster, namespace, resources),
        "pods": sorted(pod["metadata"]["uid"] for pod in workload_pods(cluster, namespace, RELEASE)),
    }


def _settled_snapshot(cluster: LocalCluster, namespace: str, resources: list[str]) -> dict[str, Any]:
    """A snapshot taken once two in a row, a second apart, are equal.

    Controllers still update the Deployment's status for a moment after
    ``helm --wait`` returns.
    """

    def settled() -> dict[str, Any] | None:
        first = _snapshot(cluster, namespace, resources)
        time.sleep(1)
        return first if _snapshot(cluster, namespace, resources) == first else None

    return cluster.wait_for("the release's objects to stop changing", settled)


def _assert_rejected(
    cluster: LocalCluster,
    namespace: str,
    resources: list[str],
    values_file: Path,
    *messages: str,
) -> None:
    """Run a rejected ``helm upgrade`` and check that it changed nothing."""
    before = _settled_snapshot(cluster, namespace, resources)
    assert before["history"][-1][1] == "deployed", before["history"]

    rejected = helm_install(cluster, RELEASE, namespace, values_file, command="upgrade", check=False)
    assert rejected.returncode != 0, f"helm upgrade accepted {values_file.name}"
    for message in messages:
        assert message in rejected.stderr, rejected.stderr

    after = _snapshot(cluster, namespace, resources)
    assert after["history"] == before["history"], f"{values_file.name} changed the release history"
    assert after["pods"] == before["pods"], f"{values_file.name} replaced the pod"
    added = set(after["objects"]) - set(before["objects"])
    assert not added, f"{values_file.name} created {sorted(added)}"
    removed = set(before["objects"]) - set(after["objects"])
    assert not removed, f"{values_file.name} deleted {sorted(removed)}"
    changed = sorted(key for key, version in after["objects"].items() if before["objects"][key] != version)
    assert not changed, f"{values_file.name} changed {changed}"


def test_claim_spec_changes_rejected(cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    install_file = write_values(tmp_path, "install", INSTALL)
    rejected_upgrades = [
        (
            "output-rwx",
            {"persistence": {"output": {"accessMode": "ReadWriteMany", "storageClass": WAIT_CLASS, "size": "50Gi"}}},
            f"persistence.output.accessMode: the claim {OUTPUT_CLAIM} exists with ReadWriteOnce, not ReadWriteMany, "
            "and Kubernetes cannot change a claim's access mode; keep ReadWriteOnce, or copy the data to a new "
            "claim and set persistence.output.existingClaim",
        ),
        (
            # Without the checks, this upgrade updated the Deployment and left a
            # PyTorchJob behind before Kubernetes rejected the claims.
            "multi-node-training",
            MULTI_NODE_TRAINING,
            f"persistence.data.accessMode: the claim {DATA_CLAIM} exists with ReadWriteOnce, not ReadWriteMany",
        ),
        (
            "output-other-class",
            {"persistence": {"output": {"storageClass": IMMEDIATE_CLASS, "size": "50Gi"}}},
            f'persistence.output.storageClass: the claim {OUTPUT_CLAIM} exists with storage class "{WAIT_CLASS}", '
            f'not "{IMMEDIATE_CLASS}", and Kubernetes cannot change a claim\'s storage class; keep "{WAIT_CLASS}", '
            "or copy the data to a new claim and set persistence.output.existingClaim",
        ),
        (
            "output-no-class",
            {"persistence": {"output": {"storageClass": "-", "size": "50Gi"}}},
            f'the claim {OUTPUT_CLAIM} exists with storage class "{WAIT_CLASS}", not ""',
        ),
        (
            "output-smaller",
            {"persistence": {"output": {"storageClass": WAIT_CLASS, "size": "20Gi"}}},
            f"persistence.output.size: 20Gi is smaller than 50Gi, the request of the existing claim {OUTPUT_CLAIM}, "
            "and Kubernetes cannot shrink a claim; set 50Gi or more",
        ),
        (
            # 51199Mi is 1 MiB below 50Gi: the comparison converts units.
            "output-smaller-in-mi",
            {"persistence": {"output": {"storageClass": WAIT_CLASS, "size": "51199Mi"}}},
            "persistence.output.size: 51199Mi is smaller than 50Gi",
        ),
    ]

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        helm_install(cluster, RELEASE, namespace, install_file)
        running_pod(cluster, namespace, RELEASE)
        resources = _namespaced_resources(cluster)

        for name, values, message in rejected_upgrades:
            _assert_rejected(cluster, namespace, resources, write_values(tmp_path, name, values), message)

        # helm template never reads the cluster, so the same values still render.
        for name, values, _ in rejected_upgrades:
            rendered = cluster.helm(
                "template", RELEASE, str(CHART_ARCHIVE), "-n", namespace, "-f", str(tmp_path / f"{name}.yaml"),
                check=False,
            )
            assert rendered.returncode == 0, f"helm template rejected {name}: {rendered.stderr}"


def test_new_full_name_rejected(cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rejected_upgrades = [
        (
            "fullname-override",
            {"fullnameOverride": "renamed"},
            f'fullnameOverride: the objects would be named "renamed", but the release\'s data is on the claims '
            f"{', '.join(sorted(ALL_CLAIMS))}, named after the old full name \"{FULLNAME}\"",
            f"set fullnameOverride: {FULLNAME} to keep the old names",
        ),
        (
            # The name label is in the Deployment's selector, so only the old name helps.
            "name-override",
            {"nameOverride": "board"},
            f'nameOverride: the objects would be named "{RELEASE}-board"',
            "set nameOverride: llamafactory (the app.kubernetes.io/name label of the old claims",
        ),
    ]

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        helm_install(cluster, RELEASE, namespace)
        running_pod(cluster, namespace, RELEASE)
        resources = _namespaced_resources(cluster)

        for name, values, message, way_out in rejected_upgrades:
            values_file = write_values(tmp_path, name, values)
            _assert_rejected(cluster, namespace, resources, values_file, message, way_out)

        # The way out that the message names: the old full name keeps the claims.
        old_fullname_file = write_values(tmp_path, "fullname-kept", {"fullnameOverride": FULLNAME})
        original = claims(cluster, namespace, RELEASE)
        helm_install(cluster, RELEASE, namespace, old_fullname_file, command="upgrade")
        assert claims(cluster, namespace, RELEASE) == original
        assert release_status(cluster, RELEASE, namespace)["info"]["status"] == "deployed"


def test_reinstall_over_kept_claim_rejected(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rwx_file = write_values(tmp_path, "output-rwx", {"persistence": {"output": {"accessMode": "ReadWriteMany"}}})

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        helm_install(cluster, RELEASE, namespace)
        original = claims(cluster, namespace, RELEASE)
        cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "120s")
        cluster.wait_for("the uninstalled release's pods to go", lambda: not workload_pods(cluster, namespace, RELEASE))
        resources = _namespaced_resources(cluster)
        before = _objects_without_release(cluster, namespace, resources)

        rejected = helm_install(cluster, RELEASE, namespace, rwx_file, check=False)
        assert rejected.returncode != 0, "helm install accepted a new access mode for a kept claim"
        assert f"persistence.output.accessMode: the claim {OUTPUT_CLAIM} exists with ReadWriteOnce" in rejected.stderr
        assert _objects_without_release(cluster, namespace, resources) == before
        assert cluster.helm("list", "-n", namespace, "-a", "-q").stdout.strip() == ""

        # With the kept claims' settings the install adopts them.
        helm_install(cluster, RELEASE, namespace)
        assert claims(cluster, namespace, RELEASE) == original
        running_pod(cluster, namespace, RELEASE)


def _objects_without_release(cluster: LocalCluster, namespace: str, resources: list[str]) -> dict[tuple[str, str], str]:
    """Every object in ``namespace`` by (kind, name), for a namespace with no release."""
    items = cluster.get(",".join(resources), "-n", namespace)["items"]
    return {(item["kind"], item["metadata"]["name"]): item["metadata"]["resourceVersion"] for item in items}


def test_upgrade_keeping_claims_succeeds(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    install_file = write_values(
        tmp_path, "install", {"persistence": {"output": {"storageClass": WAIT_CLASS, "size": "1536Mi"}}}
    )
    # The same mode and class, the same size written in GiB, a larger data claim and
    # new container resources.
    upgrade_file = write_values(
        tmp_path,
        "upgrade",
        {
            "resources": {"limits": {"cpu": "6", "memory": "48Gi"}},
            "persistence": {
                "output": {"accessMode": "ReadWriteOnce", "storageClass": WAIT_CLASS, "size": "1.5Gi"},
                "data": {"size": "60Gi"},
            },
        },
    )

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        helm_install(cluster, RELEASE, namespace, install_file)
        before = running_pod(cluster, namespace, RELEASE)
        original = claims(cluster, namespace, RELEASE)
        assert set(original) == ALL_CLAIMS

        upgraded = helm_install(cluster, RELEASE, namespace, upgrade_file, command="upgrade", check=False)
        assert upgraded.returncode == 0, upgraded.stderr

        history = json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json").stdout)
        assert [entry["status"] for entry in history] == ["superseded", "deployed"]
        pod = running_pod(cluster, namespace, RELEASE)
        assert pod["metadata"]["uid"] != before["metadata"]["uid"], "the new resources did not replace the pod"
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "48Gi"
        found = claims(cluster, namespace, RELEASE)
        assert {name: claim.uid for name, claim in found.items()} == {name: claim.uid for name, claim in original.items()}
        assert found[DATA_CLAIM].requested == "60Gi"
