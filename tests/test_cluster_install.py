"""The chart and the plain manifests on a real API server (tests/kube_cluster.py).

The cluster is etcd, kube-apiserver, kube-controller-manager and kube-scheduler at
Kubernetes 1.33, with kwok nodes, the upstream Istio and Kubeflow CRDs and PCAI's
admission rules as ValidatingAdmissionPolicies. Helm is the real binary.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_support import (
    CASES,
    CHART_ARCHIVE,
    PLAIN_MANIFESTS,
    assert_on_gpu_node_if_needed,
    claims,
    helm_install,
    helm_test,
    namespace_name,
    release_status,
    running_pod,
)
from kube_cluster import (
    CPU_LIMITS_POLICY,
    CPU_NODES,
    EZUA_APP_LABEL,
    EZUA_COMPONENT_LABEL,
    GPU_LABELS_POLICY,
    GPU_NODES,
    GPU_RESOURCE,
    GPU_TAINT,
    IMMEDIATE_CLASS,
    WAIT_CLASS,
    LocalCluster,
    probe_pod,
)
from llamafactory_cdk8s.errors import LlamaFactoryError
from llamafactory_cdk8s.loading import read_values_file, values_from_mapping

pytestmark = pytest.mark.cluster

CASE_FILES = sorted(CASES.glob("*.yaml"))


def dry_run_create(cluster: LocalCluster, namespace: str, manifest: dict[str, Any]):
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest), check=False
    )


# -- the cluster itself -----------------------------------------------------------


def test_cluster_runs_the_pinned_kubernetes(cluster: LocalCluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)

    assert version["gitVersion"] == "v1.33.13"


def test_cluster_has_gpu_and_cpu_nodes(cluster: LocalCluster) -> None:
    nodes = {node["metadata"]["name"]: node for node in cluster.get("nodes")["items"]}

    assert set(nodes) == {*GPU_NODES, *CPU_NODES}
    for name, zone in GPU_NODES.items():
        assert nodes[name]["status"]["allocatable"][GPU_RESOURCE] == "8"
        assert nodes[name]["spec"]["taints"] == [GPU_TAINT]
        assert nodes[name]["metadata"]["labels"]["topology.kubernetes.io/zone"] == zone
    for name in CPU_NODES:
        assert GPU_RESOURCE not in nodes[name]["status"]["allocatable"]
        assert "taints" not in nodes[name]["spec"]


def test_cluster_storage_classes(cluster: LocalCluster) -> None:
    classes = {item["metadata"]["name"]: item for item in cluster.get("storageclass")["items"]}

    assert classes[WAIT_CLASS]["volumeBindingMode"] == "WaitForFirstConsumer"
    assert classes[WAIT_CLASS]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert classes[IMMEDIATE_CLASS]["volumeBindingMode"] == "Immediate"


@pytest.mark.parametrize(
    "crd", ["virtualservices.networking.istio.io", "authorizationpolicies.security.istio.io", "pytorchjobs.kubeflow.org"]
)
def test_cluster_has_upstream_crds(cluster: LocalCluster, crd: str) -> None:
    definition = cluster.get("crd", crd)

    conditions = {condition["type"]: condition["status"] for condition in definition["status"]["conditions"]}
    assert conditions["Established"] == "True"


# -- PCAI admission policies ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pod", "policy"),
    [
        ("gpu-without-labels", probe_pod(gpu=True, labels=False, cpu_limit=True), GPU_LABELS_POLICY),
        ("no-cpu-limit", probe_pod(gpu=False, labels=False, cpu_limit=False), CPU_LIMITS_POLICY),
        ("gpu-labelled-no-cpu-limit", probe_pod(gpu=True, labels=True, cpu_limit=False), CPU_LIMITS_POLICY),
    ],
)
def test_policy_rejects(cluster: LocalCluster, name: str, pod: dict[str, Any], policy: str) -> None:
    result = dry_run_create(cluster, "default", pod)

    assert result.returncode != 0, f"{name} was admitted"
    assert f"ValidatingAdmissionPolicy '{policy}'" in result.stderr, result.stderr


def test_gpu_policy_rejects_empty_label(cluster: LocalCluster) -> None:
    pod = probe_pod(gpu=True, labels=True, cpu_limit=True)
    pod["metadata"]["labels"][EZUA_COMPONENT_LABEL] = ""

    result = dry_run_create(cluster, "default", pod)

    assert f"ValidatingAdmissionPolicy '{GPU_LABELS_POLICY}'" in result.stderr, result.stderr


def test_cpu_policy_covers_init_containers(cluster: LocalCluster) -> None:
    pod = probe_pod(gpu=False, labels=False, cpu_limit=True)
    pod["spec"]["initContainers"] = [{"name": "init", "image": "registry.invalid/probe:1"}]

    result = dry_run_create(cluster, "default", pod)

    assert f"ValidatingAdmissionPolicy '{CPU_LIMITS_POLICY}'" in result.stderr, result.stderr


@pytest.mark.parametrize("gpu", [True, False])
def test_policies_admit_a_compliant_pod(cluster: LocalCluster, gpu: bool) -> None:
    result = dry_run_create(cluster, "default", probe_pod(gpu=gpu, labels=True, cpu_limit=True))

    assert result.returncode == 0, result.stderr


# -- the plain manifests ----------------------------------------------------------


def _plain_manifests() -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(PLAIN_MANIFESTS.read_text()) if document]


def test_plain_manifests_accepted_by_server_dry_run(cluster: LocalCluster) -> None:
    manifests = _plain_manifests()
    namespaces = {manifest["metadata"].get("namespace") for manifest in manifests} - {None, "istio-system"}
    for namespace in sorted(namespaces):
        cluster.kubectl("create", "namespace", namespace)

    result = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", str(PLAIN_MANIFESTS), "-o", "json", check=False
    )

    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)["items"]
    assert sorted((item["kind"], item["metadata"]["name"]) for item in accepted) == sorted(
        (manifest["kind"], manifest["metadata"]["name"]) for manifest in manifests
    )


def _deployment_pod() -> dict[str, Any]:
    deployment = next(manifest for manifest in _plain_manifests() if manifest["kind"] == "Deployment")
    template = copy.deepcopy(deployment["spec"]["template"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "as-deployed", **template["metadata"]},
            "spec": template["spec"]}


def test_our_pod_passes_pcai_admission(cluster: LocalCluster) -> None:
    pod = _deployment_pod()
    assert GPU_RESOURCE in pod["spec"]["containers"][0]["resources"]["limits"]

    result = dry_run_create(cluster, "default", pod)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("label", [EZUA_APP_LABEL, EZUA_COMPONENT_LABEL])
def test_our_pod_without_ezua_label_rejected(cluster: LocalCluster, label: str) -> None:
    pod = _deployment_pod()
    del pod["metadata"]["labels"][label]

    result = dry_run_create(cluster, "default", pod)

    assert f"ValidatingAdmissionPolicy '{GPU_LABELS_POLICY}'" in result.stderr, result.stderr


def test_our_pod_without_cpu_limit_rejected(cluster: LocalCluster) -> None:
    pod = _deployment_pod()
    del pod["spec"]["containers"][0]["resources"]["limits"]["cpu"]

    result = dry_run_create(cluster, "default", pod)

    assert f"ValidatingAdmissionPolicy '{CPU_LIMITS_POLICY}'" in result.stderr, result.stderr


# -- helm install of the archive --------------------------------------------------


def _model_accepts(path: Path | None) -> bool:
    try:
        values_from_mapping(read_values_file(path) if path else {})
    except LlamaFactoryError:
        return False
    return True


@pytest.mark.parametrize("values_file", [None, *CASE_FILES], ids=["defaults", *(path.stem for path in CASE_FILES)])
def test_helm_install(cluster: LocalCluster, request: pytest.FixtureRequest, values_file: Path | None) -> None:
    release = "lf"
    files = [values_file] if values_file else []
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        if not _model_accepts(values_file):
            result = helm_install(cluster, release, namespace, *files, check=False)
            assert result.returncode != 0, f"helm installed {values_file.name}, which the model refuses"
            leftovers = cluster.kubectl("get", "all,pvc,secret,configmap", "-n", namespace, "-l",
                                        f"app.kubernetes.io/instance={release}", "-o", "name").stdout
            assert leftovers == ""
            assert cluster.helm("list", "-n", namespace, "-q").stdout.strip() == ""
            return

        helm_install(cluster, release, namespace, *files)

        status = release_status(cluster, release, namespace)
        assert status["info"]["status"] == "deployed"
        pod = running_pod(cluster, namespace, release)
        assert_on_gpu_node_if_needed(pod)
        found = claims(cluster, namespace, release)
        mounted = {volume["persistentVolumeClaim"]["claimName"] for volume in pod["spec"]["volumes"]
                   if "persistentVolumeClaim" in volume}
        assert mounted == set(found)
        assert all(claim.phase == "Bound" for claim in found.values()), found
        test_run = helm_test(cluster, release, namespace)
        assert test_run["last_run"]["phase"] == "Succeeded"

