"""The training run (``training.*``) installed from the archive on the test cluster.

The cluster has the Kubeflow ``PyTorchJob`` CRD from the training operator's own
module but no operator, so a PyTorchJob is checked against the CRD's schema and its
pod templates against PCAI's admission policies. Jobs run for real: the Job
controller creates their pods and kwok marks them Succeeded.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_support import claims, helm_install, namespace_name, running_pod, write_values
from kube_cluster import CPU_LIMITS_POLICY, EZUA_APP_LABEL, GPU_LABELS_POLICY, GPU_NODES, LocalCluster

pytestmark = pytest.mark.cluster

RELEASE = "lf"
JOB_NAME = f"{RELEASE}-llamafactory-train-run1"
SHARED_CLAIMS = {
    "persistence": {
        "hfCache": {"accessMode": "ReadWriteMany"},
        "data": {"accessMode": "ReadWriteMany"},
        "output": {"accessMode": "ReadWriteMany"},
    },
}


def training_values(nodes: int, engine: str = "pytorchjob") -> dict[str, Any]:
    values: dict[str, Any] = {
        "training": {
            "enabled": True,
            "nodes": nodes,
            "engine": engine,
            "args": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "dataset": "identity", "template": "qwen"},
        },
    }
    if nodes > 1:
        values.update(SHARED_CLAIMS)
    return values


def install(cluster: LocalCluster, namespace: str, tmp_path: Path, values: dict[str, Any]) -> None:
    helm_install(cluster, RELEASE, namespace, write_values(tmp_path, "training", values))


def template_as_pod(template: dict[str, Any], name: str) -> dict[str, Any]:
    template = copy.deepcopy(template)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **template.get("metadata", {})},
        "spec": template["spec"],
    }


def dry_run_pod(cluster: LocalCluster, namespace: str, pod: dict[str, Any]):
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod), check=False
    )


def job_pods(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    return cluster.get("pods", "-n", namespace, "-l", f"job-name={JOB_NAME}")["items"]


def wait_job_complete(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    def complete() -> dict[str, Any] | None:
        job = cluster.get("job", JOB_NAME, "-n", namespace)
        conditions = {c["type"]: c["status"] for c in job.get("status", {}).get("conditions", [])}
        assert conditions.get("Failed") != "True", f"job {JOB_NAME} failed: {job['status']}"
        return job if conditions.get("Complete") == "True" else None

    return cluster.wait_for(f"job {JOB_NAME} to complete", complete)


def test_pytorchjob_two_nodes(cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        install(cluster, namespace, tmp_path, training_values(2))

        job = cluster.get("pytorchjob", JOB_NAME, "-n", namespace)
        replicas = job["spec"]["pytorchReplicaSpecs"]
        assert replicas["Master"]["replicas"] == 1
        assert replicas["Worker"]["replicas"] == 1
        for role, spec in replicas.items():
            pod = template_as_pod(spec["template"], f"{role.lower()}-as-created")
            result = dry_run_pod(cluster, namespace, pod)
            assert result.returncode == 0, f"{role} pod rejected: {result.stderr}"
        # The app keeps running beside the job, on its own claims.
        assert running_pod(cluster, namespace, RELEASE)["spec"]["nodeName"] in GPU_NODES


def test_pytorchjob_pods_need_pcai_labels_and_limits(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        install(cluster, namespace, tmp_path, training_values(2))
        template = cluster.get("pytorchjob", JOB_NAME, "-n", namespace)["spec"]["pytorchReplicaSpecs"]["Worker"][
            "template"
        ]

        unlabelled = template_as_pod(template, "unlabelled")
        del unlabelled["metadata"]["labels"][EZUA_APP_LABEL]
        unlimited = template_as_pod(template, "unlimited")
        del unlimited["spec"]["containers"][0]["resources"]["limits"]["cpu"]

        assert GPU_LABELS_POLICY in dry_run_pod(cluster, namespace, unlabelled).stderr
        assert CPU_LIMITS_POLICY in dry_run_pod(cluster, namespace, unlimited).stderr


def test_pytorchjob_rejected_by_crd_schema(cluster: LocalCluster, request: pytest.FixtureRequest) -> None:
    # Proves the CRD's schema is enforced, so the acceptance above means something.
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        bad = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "bad"},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": "one"}}},
        }
        result = cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad), check=False)

        assert result.returncode != 0
        assert "replicas" in result.stderr


def test_single_node_job_completes(cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        install(cluster, namespace, tmp_path, training_values(1))

        job = wait_job_complete(cluster, namespace)
        assert job["status"]["succeeded"] == 1
        (pod,) = job_pods(cluster, namespace)
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["spec"]["nodeName"] in GPU_NODES
        # The claims are ReadWriteOnce, so the run must share the app pod's node.
        app_node = running_pod(cluster, namespace, RELEASE)["spec"]["nodeName"]
        assert pod["spec"]["nodeName"] == app_node
        mounted = {volume["persistentVolumeClaim"]["claimName"] for volume in pod["spec"]["volumes"]
                   if "persistentVolumeClaim" in volume}
        assert f"{RELEASE}-llamafactory-output" in mounted
        assert mounted <= set(claims(cluster, namespace, RELEASE))


def test_app_service_excludes_training_pods(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        install(cluster, namespace, tmp_path, training_values(2, engine="indexedJob"))
        app_pod = running_pod(cluster, namespace, RELEASE)

        def both_running() -> list[dict[str, Any]] | None:
            pods = job_pods(cluster, namespace)
            running = [pod for pod in pods if pod["status"].get("phase") in ("Running", "Succeeded")]
            return pods if len(running) == 2 else None

        pods = cluster.wait_for("both indexed training pods", both_running)
        selector = cluster.get("service", f"{RELEASE}-llamafactory", "-n", namespace)["spec"]["selector"]
        for pod in pods:
            labels = pod["metadata"]["labels"]
            assert not selector.items() <= labels.items(), f"the app Service selects {pod['metadata']['name']}"
        slices = cluster.get("endpointslices", "-n", namespace, "-l",
                             f"kubernetes.io/service-name={RELEASE}-llamafactory")["items"]
        targets = {endpoint["targetRef"]["name"] for item in slices for endpoint in item.get("endpoints") or []}
        assert targets == {app_pod["metadata"]["name"]}


def test_indexed_job_two_nodes_completes(
    cluster: LocalCluster, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with cluster.namespace(namespace_name(request.node.name)) as namespace:
        install(cluster, namespace, tmp_path, training_values(2, engine="indexedJob"))

        job = wait_job_complete(cluster, namespace)
        assert job["spec"]["completionMode"] == "Indexed"
        assert job["status"]["succeeded"] == 2
        pods = job_pods(cluster, namespace)
        indexes = sorted(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for pod in pods)
        assert indexes == ["0", "1"]
        assert {pod["spec"]["subdomain"] for pod in pods} == {JOB_NAME}
        service = cluster.get("service", JOB_NAME, "-n", namespace)
        assert service["spec"]["clusterIP"] == "None"
