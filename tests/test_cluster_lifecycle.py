"""Releases of the committed chart archive across their lifecycle, on the test cluster.

The main test follows one release through install, uninstall, a second install under
the same name, upgrades, a rollback and a volume switched off and on again. After
every step it checks that each claim still has the UID and the volume it had after
the first install. A claim that was deleted and created again would have a new UID, and a
claim created empty would be bound to another volume.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_support import (
    CLAIM_SUFFIXES,
    INSTANCE_LABEL,
    Claim,
    assert_on_gpu_node_if_needed,
    claims,
    helm_install,
    helm_test,
    namespace_name,
    release_status,
    running_pod,
    workload_pods,
    write_values,
)
from kube_cluster import LocalCluster

pytestmark = pytest.mark.cluster

RELEASE = "lf"
ALL_CLAIMS = {f"{RELEASE}-llamafactory-{suffix}" for suffix in CLAIM_SUFFIXES.values()}
OUTPUT_CLAIM = f"{RELEASE}-llamafactory-output"

WEBUI_UPGRADE = {"extraEnv": [{"name": "LIFECYCLE_STEP", "value": "webui-upgrade"}]}
API = {"mode": "api", "api": {"model": "some/model", "apiKey": "lifecycle-test-key"}}
LARGER_SIZES = {"hfCache": "300Gi", "data": "60Gi", "output": "150Gi", "webuiState": "20Gi"}
# The variable also changes the pod template, to show what a failed rollback applies.
API_LARGER = {
    **API,
    "extraEnv": [{"name": "LIFECYCLE_STEP", "value": "larger-volumes"}],
    "persistence": {key: {"size": size} for key, size in LARGER_SIZES.items()},
}
REQUESTED_LARGER = {f"{RELEASE}-llamafactory-{CLAIM_SUFFIXES[key]}": size for key, size in LARGER_SIZES.items()}

# Kubernetes 1.33 rejects a bound claim's request below status.capacity with this
# message, because volumes cannot shrink.
SHRINK_REJECTED = "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _with_output_disabled(values: dict[str, Any]) -> dict[str, Any]:
    disabled = copy.deepcopy(values)
    disabled["persistence"]["output"]["enabled"] = False
    return disabled


def _identities(found: dict[str, Claim]) -> dict[str, tuple[str, str]]:
    """Each claim's UID and bound volume: what changes if its data were replaced."""
    return {name: (claim.uid, claim.volume) for name, claim in found.items()}


def _mounted_claims(pod: dict[str, Any]) -> set[str]:
    """Claims that a container of ``pod`` mounts (a volume listed but unmounted does not count)."""
    by_volume = {
        volume["name"]: volume["persistentVolumeClaim"]["claimName"]
        for volume in pod["spec"].get("volumes", [])
        if "persistentVolumeClaim" in volume
    }
    mounted_volumes = {
        mount["name"] for container in pod["spec"]["containers"] for mount in container.get("volumeMounts", [])
    }
    return {claim for volume, claim in by_volume.items() if volume in mounted_volumes}


def _pod_without_step_variable(cluster: LocalCluster, namespace: str) -> dict[str, Any] | None:
    """The release's one Running pod once its container has no LIFECYCLE_STEP variable."""
    pods = [pod for pod in workload_pods(cluster, namespace, RELEASE) if "deletionTimestamp" not in pod["metadata"]]
    if len(pods) != 1 or pods[0].get("status", {}).get("phase") != "Running":
        return None
    names = {item["name"] for item in pods[0]["spec"]["containers"][0].get("env", [])}
    return None if "LIFECYCLE_STEP" in names else pods[0]


def _claims_used_by_any_pod(cluster: LocalCluster, namespace: str) -> set[str]:
    return {
        volume["persistentVolumeClaim"]["claimName"]
        for pod in cluster.get("pods", "-n", namespace)["items"]
        for volume in pod["spec"].get("volumes", [])
        if "persistentVolumeClaim" in volume
    }


def _assert_step(
    cluster: LocalCluster, namespace: str, step: str, original: dict[str, tuple[str, str]], enabled: set[str]
) -> dict[str, Any]:
    """Check the claims and the pod after ``step``, and return the Running pod."""
    found = claims(cluster, namespace, RELEASE)
    assert _identities(found) == original, f"after {step}: a claim was deleted, replaced or rebound"
    assert all(claim.phase == "Bound" for claim in found.values()), f"after {step}: {found}"

    pod = running_pod(cluster, namespace, RELEASE)
    assert _mounted_claims(pod) == enabled, f"after {step}: the pod mounts {_mounted_claims(pod)}"
    assert_on_gpu_node_if_needed(pod)
    assert release_status(cluster, RELEASE, namespace)["info"]["status"] == "deployed", f"after {step}"
    return pod


def _live_objects(cluster: LocalCluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """The live objects of the release's current manifest."""
    manifest = cluster.helm("get", "manifest", release, "-n", namespace).stdout
    documents = [document for document in yaml.safe_load_all(manifest) if document]
    # kubectl rejects -n for objects of another namespace, and the login policy is in
    # istio-system, so every object names its namespace.
    for document in documents:
        document["metadata"].setdefault("namespace", namespace)
    live = json.loads(cluster.kubectl("get", "-f", "-", "-o", "json", input=yaml.safe_dump_all(documents)).stdout)
    return live["items"] if live.get("kind") == "List" else [live]


def _managed_objects(cluster: LocalCluster, namespace: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The release's live objects by (kind, namespace, name)."""
    return {
        (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"]): item
        for item in _live_objects(cluster, namespace, RELEASE)
    }


def _release_snapshot(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    """What a rejected upgrade must leave alone: revisions, objects, claims and the pod."""
    objects = _managed_objects(cluster, namespace)
    deployment = next(item for key, item in objects.items() if key[0] == "Deployment")
    return {
        "history": json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json").stdout),
        "resource versions": {key: item["metadata"]["resourceVersion"] for key, item in objects.items()},
        "deployment generation": deployment["metadata"]["generation"],
        "claims": claims(cluster, namespace, RELEASE),
        "pods": [pod["metadata"]["uid"] for pod in workload_pods(cluster, namespace, RELEASE)],
    }


def test_claims_survive_release_lifecycle(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    webui_file = write_values(tmp_path, "webui", WEBUI_UPGRADE)
    api_file = write_values(tmp_path, "api", API)
    larger_file = write_values(tmp_path, "api-larger", API_LARGER)
    output_off_file = write_values(tmp_path, "output-off", _with_output_disabled(API_LARGER))
    no_model_file = write_values(tmp_path, "api-no-model", {"mode": "api"})
    gpu_mismatch_file = write_values(
        tmp_path, "gpu-mismatch", {"resources": {"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}}}
    )

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        # install (webui, the default)
        helm_install(cluster, RELEASE, namespace)
        original = _identities(claims(cluster, namespace, RELEASE))
        assert set(original) == ALL_CLAIMS
        assert all(volume for _, volume in original.values()), original
        _assert_step(cluster, namespace, "install", original, ALL_CLAIMS)

        # uninstall: Helm deletes the workload and keeps the claims
        uninstalled = cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "120s")
        assert "These resources were kept due to the resource policy" in uninstalled.stdout
        for name in ALL_CLAIMS:
            assert f"[PersistentVolumeClaim] {name}" in uninstalled.stdout
        cluster.wait_for("the uninstalled release's pods to go", lambda: not workload_pods(cluster, namespace, RELEASE))
        assert cluster.helm("list", "-n", namespace, "-q").stdout.strip() == ""
        assert _identities(claims(cluster, namespace, RELEASE)) == original

        # install again under the same name: Helm adopts the kept claims
        reinstalled = helm_install(cluster, RELEASE, namespace, check=False)
        assert reinstalled.returncode == 0, reinstalled.stderr
        _assert_step(cluster, namespace, "second install", original, ALL_CLAIMS)

        # upgrade, still webui, with a new pod template
        before = running_pod(cluster, namespace, RELEASE)
        helm_install(cluster, RELEASE, namespace, webui_file, command="upgrade")
        pod = _assert_step(cluster, namespace, "webui upgrade", original, ALL_CLAIMS)
        assert pod["metadata"]["uid"] != before["metadata"]["uid"], "the upgrade did not replace the pod"
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "webui"

        # upgrade to api mode with a model
        helm_install(cluster, RELEASE, namespace, api_file, command="upgrade")
        pod = _assert_step(cluster, namespace, "upgrade to api", original, ALL_CLAIMS)
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "api"

        # upgrade with larger volumes: the API server accepts a bigger request on a
        # bound claim because both storage classes allow expansion
        helm_install(cluster, RELEASE, namespace, larger_file, command="upgrade")
        pod = _assert_step(cluster, namespace, "larger volumes", original, ALL_CLAIMS)
        requested = {name: claim.requested for name, claim in claims(cluster, namespace, RELEASE).items()}
        assert requested == REQUESTED_LARGER
        assert {"name": "LIFECYCLE_STEP", "value": "larger-volumes"} in pod["spec"]["containers"][0]["env"]
        revision_with_larger_volumes = release_status(cluster, RELEASE, namespace)["version"]

        # rollback to the smaller sizes: Kubernetes rejects a claim request below
        # status.capacity, so Helm reports the rollback failed and no claim changes.
        # Helm still applies the revision's other objects: the pod loses the variable.
        rolled_back = cluster.helm("rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "120s", check=False)
        assert rolled_back.returncode != 0, "rollback to smaller claims succeeded"
        for name in ALL_CLAIMS:
            assert f'PersistentVolumeClaim "{name}" is invalid: {SHRINK_REJECTED}' in rolled_back.stderr
        history = json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json").stdout)
        assert history[-1]["revision"] == revision_with_larger_volumes + 1
        assert history[-1]["status"] == "failed"
        found = claims(cluster, namespace, RELEASE)
        assert _identities(found) == original
        assert {name: claim.requested for name, claim in found.items()} == REQUESTED_LARGER
        after_rollback = cluster.wait_for(
            "the pod of the rolled-back Deployment", lambda: _pod_without_step_variable(cluster, namespace)
        )
        assert after_rollback["metadata"]["uid"] != pod["metadata"]["uid"]
        assert _mounted_claims(after_rollback) == ALL_CLAIMS

        # upgrade with the output volume disabled: the pod gets an emptyDir and the
        # claim, no longer in the release, is kept and detached
        helm_install(cluster, RELEASE, namespace, output_off_file, command="upgrade")
        enabled = ALL_CLAIMS - {OUTPUT_CLAIM}
        pod = _assert_step(cluster, namespace, "output disabled", original, enabled)
        output_volume = next(volume for volume in pod["spec"]["volumes"] if volume["name"] == "output")
        assert "emptyDir" in output_volume
        assert OUTPUT_CLAIM not in _claims_used_by_any_pod(cluster, namespace)
        manifest = cluster.helm("get", "manifest", RELEASE, "-n", namespace).stdout
        assert f"name: {OUTPUT_CLAIM}\n" not in manifest

        # upgrade re-enabling it: the same claim is adopted and mounted again
        helm_install(cluster, RELEASE, namespace, larger_file, command="upgrade")
        _assert_step(cluster, namespace, "output enabled again", original, ALL_CLAIMS)

        # rollback without a size change succeeds, and the claim it drops is kept
        rolled_back = cluster.helm("rollback", RELEASE, "-n", namespace, "--wait", "--timeout", "120s", check=False)
        assert rolled_back.returncode == 0, rolled_back.stderr
        _assert_step(cluster, namespace, "rollback to output disabled", original, enabled)

        # upgrades that the chart rejects change nothing
        for bad_file, message in ((no_model_file, "api.model"), (gpu_mismatch_file, "nvidia.com/gpu")):
            before_snapshot = _release_snapshot(cluster, namespace)
            rejected = helm_install(cluster, RELEASE, namespace, bad_file, command="upgrade", check=False)
            assert rejected.returncode != 0, f"helm upgrade accepted {bad_file.name}"
            assert message in rejected.stderr, rejected.stderr
            after_snapshot = _release_snapshot(cluster, namespace)
            for part, value in before_snapshot.items():
                assert after_snapshot[part] == value, f"{bad_file.name} changed the release's {part}"


def test_two_releases_side_by_side(cluster: LocalCluster, request: pytest.FixtureRequest) -> None:
    releases = ("a", "b")
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        for release in releases:
            helm_install(cluster, release, namespace)

        pods = {release: running_pod(cluster, namespace, release) for release in releases}
        found = {release: claims(cluster, namespace, release) for release in releases}
        for release in releases:
            assert release_status(cluster, release, namespace)["info"]["status"] == "deployed"
            assert len(found[release]) == len(CLAIM_SUFFIXES)
            assert _mounted_claims(pods[release]) == set(found[release])
        assert not set(found["a"]) & set(found["b"])
        assert not {c.uid for c in found["a"].values()} & {c.uid for c in found["b"].values()}
        assert not {c.volume for c in found["a"].values()} & {c.volume for c in found["b"].values()}

        for release in releases:
            services = cluster.get("services", "-n", namespace, "-l", f"{INSTANCE_LABEL}={release}")["items"]
            assert len(services) == 1, [service["metadata"]["name"] for service in services]
            service = services[0]
            selector = ",".join(f"{key}={value}" for key, value in service["spec"]["selector"].items())
            selected = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
            assert [pod["metadata"]["name"] for pod in selected] == [pods[release]["metadata"]["name"]]

            def endpoint_pods(service_name: str = service["metadata"]["name"]) -> list[str]:
                slices = cluster.get(
                    "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service_name}"
                )["items"]
                return sorted(
                    endpoint["targetRef"]["name"] for item in slices for endpoint in item.get("endpoints") or []
                )

            endpoints = cluster.wait_for(f"endpoints of Service {service['metadata']['name']}", endpoint_pods)
            assert endpoints == [pods[release]["metadata"]["name"]]


def test_long_release_name(cluster: LocalCluster, request: pytest.FixtureRequest) -> None:
    # Helm's maximum release name length. Without "llamafactory" in the name, the
    # chart appends the chart name and must cut the result to 63 characters.
    release = "finetune-team-with-a-long-name-0123456789-abcdefghijk"
    assert len(release) == 53

    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        helm_install(cluster, release, namespace)

        assert release_status(cluster, release, namespace)["info"]["status"] == "deployed"
        pod = running_pod(cluster, namespace, release)
        found = claims(cluster, namespace, release)
        assert len(found) == len(CLAIM_SUFFIXES)
        assert _mounted_claims(pod) == set(found)
        assert all(claim.phase == "Bound" for claim in found.values()), found

        live = _live_objects(cluster, namespace, release)
        names = [(item["kind"], item["metadata"]["name"]) for item in live]
        assert len(names) == len(set(names)), names
        for item in live:
            name = item["metadata"]["name"]
            assert len(name) <= 63, name
            assert DNS_LABEL.match(name), name
            for key, value in item["metadata"].get("labels", {}).items():
                assert len(value) <= 63, (name, key, value)
                assert LABEL_VALUE.match(value), (name, key, value)
        service = next(item for item in live if item["kind"] == "Service")
        assert service["metadata"]["name"][0].isalpha(), "a Service name must start with a letter"

        test_run = helm_test(cluster, release, namespace)
        assert test_run["last_run"]["phase"] == "Succeeded"
