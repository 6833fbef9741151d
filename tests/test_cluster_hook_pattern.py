"""What Helm does with claims created as hooks, the pattern of the chart this project replaces.

The hand-written llamafactory 0.1.0 chart creates its claims as ``pre-install`` hooks
annotated ``helm.sh/resource-policy: keep`` with no ``helm.sh/hook-delete-policy``,
then runs a hook Job that sleeps. ``tests/data/hook-pattern-chart`` reproduces that
pattern with one claim, and these tests record what the pinned Helm does with it on
the test cluster. ``docs/design-volumes.md`` cites the result as the reason why our
claims are ordinary release objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cluster_support import namespace_name
from kube_cluster import LocalCluster

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parent / "data" / "hook-pattern-chart"
RELEASE = "hp"
CLAIM = f"{RELEASE}-data"
JOB = f"{RELEASE}-wait-for-claims"
# The version whose behaviour docs/design-volumes.md records.
HELM_VERSION = "v3.18.0"


def _install(cluster: LocalCluster, namespace: str, *arguments: str, command: str = "install"):
    return cluster.helm(command, RELEASE, str(CHART), "-n", namespace, "--wait", "--timeout", "120s", *arguments)


def _get(cluster: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return cluster.get(kind, name, "-n", namespace)


def _hooks(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    status = json.loads(cluster.helm("status", RELEASE, "-n", namespace, "-o", "json").stdout)
    return {hook["name"]: hook for hook in status.get("hooks", [])}


def _app_running(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        pods = cluster.get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=app")["items"]
        live = [pod for pod in pods if "deletionTimestamp" not in pod["metadata"]]
        if len(live) == 1 and live[0].get("status", {}).get("phase") == "Running":
            return live[0]
        return None

    return cluster.wait_for(f"the hook-pattern app pod in {namespace}", running)


def _released_volume(cluster: LocalCluster, name: str) -> dict[str, Any] | None:
    volume = cluster.get("pv", name)
    return volume if volume["status"]["phase"] == "Released" else None


def test_helm_is_the_documented_version(cluster: LocalCluster) -> None:
    version = cluster.helm("version", "--template", "{{ .Version }}").stdout.strip()

    assert version == HELM_VERSION, "re-run the hook-pattern tests and update docs/design-volumes.md"


def test_hook_claim_ignores_upgrade(cluster: LocalCluster, request: pytest.FixtureRequest) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        _install(cluster, namespace)
        hooks = _hooks(cluster, namespace)
        assert hooks[CLAIM]["last_run"]["phase"] == "Succeeded"
        assert hooks[JOB]["last_run"]["phase"] == "Succeeded"
        # With no delete policy in the chart, Helm records its default.
        assert hooks[CLAIM]["delete_policies"] == ["before-hook-creation"]
        _app_running(cluster, namespace)
        claim = _get(cluster, namespace, "pvc", CLAIM)
        job = _get(cluster, namespace, "job", JOB)
        assert claim["status"]["phase"] == "Bound"
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"

        upgraded = _install(cluster, namespace, "--set", "size=5Gi", command="upgrade")

        assert "has been upgraded" in upgraded.stdout
        # pre-install hooks do not run on upgrade. Helm records them without a run,
        # leaves the Job alone and does not apply the new size to the claim.
        hooks = _hooks(cluster, namespace)
        assert hooks[CLAIM]["last_run"]["phase"] == ""
        assert hooks[JOB]["last_run"]["phase"] == ""
        assert _get(cluster, namespace, "job", JOB)["metadata"]["uid"] == job["metadata"]["uid"]
        after = _get(cluster, namespace, "pvc", CLAIM)
        assert after["metadata"]["uid"] == claim["metadata"]["uid"]
        assert after["spec"]["resources"]["requests"]["storage"] == "1Gi"
        assert after["metadata"]["resourceVersion"] == claim["metadata"]["resourceVersion"]
        # Hooks are not part of the release's manifest.
        manifest = cluster.helm("get", "manifest", RELEASE, "-n", namespace).stdout
        assert "kind: PersistentVolumeClaim" not in manifest


def test_hook_claim_replaced_on_reinstall(cluster: LocalCluster, request: pytest.FixtureRequest) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        _install(cluster, namespace)
        _app_running(cluster, namespace)
        first = _get(cluster, namespace, "pvc", CLAIM)
        first_job = _get(cluster, namespace, "job", JOB)
        assert first["status"]["phase"] == "Bound"

        uninstalled = cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "120s")

        # Uninstall deletes only the release's manifest, and hooks are not in it: the
        # claim stays without Helm naming it among the kept resources, and the Job,
        # which has no keep annotation, stays as well.
        assert CLAIM not in uninstalled.stdout
        assert "kept due to the resource policy" not in uninstalled.stdout
        assert _get(cluster, namespace, "pvc", CLAIM)["metadata"]["uid"] == first["metadata"]["uid"]
        assert _get(cluster, namespace, "job", JOB)["metadata"]["uid"] == first_job["metadata"]["uid"]
        cluster.wait_for(
            "the uninstalled app pod to go",
            lambda: not cluster.get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=app")["items"],
        )

        reinstalled = cluster.helm(
            "install", RELEASE, str(CHART), "-n", namespace, "--wait", "--timeout", "120s", check=False
        )

        # The reinstall succeeds: before-hook-creation deletes the kept claim, in
        # spite of resource-policy keep, and creates an empty one on another volume.
        assert reinstalled.returncode == 0, reinstalled.stderr
        pod = _app_running(cluster, namespace)
        second = _get(cluster, namespace, "pvc", CLAIM)
        assert second["metadata"]["uid"] != first["metadata"]["uid"]
        assert second["status"]["phase"] == "Bound"
        assert second["spec"]["volumeName"] != first["spec"]["volumeName"]
        assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == CLAIM
        assert _get(cluster, namespace, "job", JOB)["metadata"]["uid"] != first_job["metadata"]["uid"]
        # The old data is left on a Released volume that still names the deleted claim.
        old_volume = cluster.wait_for(
            f"volume {first['spec']['volumeName']} to be Released",
            lambda: _released_volume(cluster, first["spec"]["volumeName"]),
        )
        assert old_volume["spec"]["claimRef"]["uid"] == first["metadata"]["uid"]
