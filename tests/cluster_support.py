"""Helpers for tests that install the chart on the test cluster (tests/kube_cluster.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kube_cluster import GPU_RESOURCE, GPU_NODES, LocalCluster

ROOT = Path(__file__).resolve().parent.parent
CHART_ARCHIVE = ROOT / "dist" / "llamafactory-0.1.0.tgz"
PLAIN_MANIFESTS = ROOT / "dist" / "llamafactory.k8s.yaml"
CASES = Path(__file__).resolve().parent / "data" / "cases"

INSTANCE_LABEL = "app.kubernetes.io/instance"
# Claim name suffix of each persistence key, written out here so that a renamed claim
# fails the tests instead of following the code.
CLAIM_SUFFIXES = {"hfCache": "hf-cache", "data": "data", "output": "output", "webuiState": "webui-state"}


@dataclass(frozen=True)
class Claim:
    """What identifies a claim's data: the object's UID and the volume it is bound to."""

    name: str
    uid: str
    volume: str
    phase: str
    requested: str


def namespace_name(test_name: str) -> str:
    """A namespace name (at most 63 characters) derived from a test's name."""
    name = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    return name[:63].rstrip("-")


def write_values(directory: Path, name: str, values: dict[str, Any]) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def helm_install(
    cluster: LocalCluster,
    release: str,
    namespace: str,
    *values_files: Path,
    command: str = "install",
    check: bool = True,
    extra: tuple[str, ...] = (),
):
    """``helm install`` (or ``upgrade``) of the committed archive, waiting for readiness."""
    arguments = [command, release, str(CHART_ARCHIVE), "-n", namespace, "--wait", "--timeout", "120s"]
    for path in values_files:
        arguments += ["-f", str(path)]
    return cluster.helm(*arguments, *extra, check=check)


def release_status(cluster: LocalCluster, release: str, namespace: str) -> dict[str, Any]:
    return json.loads(cluster.helm("status", release, "-n", namespace, "-o", "json").stdout)


def claims(cluster: LocalCluster, namespace: str, release: str) -> dict[str, Claim]:
    """The release's claims by name, including those Helm no longer manages."""
    items = cluster.get("pvc", "-n", namespace, "-l", f"{INSTANCE_LABEL}={release}")["items"]
    return {
        item["metadata"]["name"]: Claim(
            name=item["metadata"]["name"],
            uid=item["metadata"]["uid"],
            volume=item["spec"].get("volumeName", ""),
            phase=item.get("status", {}).get("phase", ""),
            requested=item["spec"]["resources"]["requests"]["storage"],
        )
        for item in items
    }


def workload_pods(cluster: LocalCluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's Deployment pods (not the test Job's), oldest first."""
    items = cluster.get(
        "pods", "-n", namespace, "-l", f"{INSTANCE_LABEL}={release},app.kubernetes.io/component in (webui,api)"
    )["items"]
    return sorted(items, key=lambda pod: pod["metadata"]["creationTimestamp"])


def running_pod(cluster: LocalCluster, namespace: str, release: str) -> dict[str, Any]:
    """Wait until exactly one workload pod exists, Running and not being deleted; return it."""

    def one_running() -> dict[str, Any] | None:
        pods = [pod for pod in workload_pods(cluster, namespace, release) if "deletionTimestamp" not in pod["metadata"]]
        if len(pods) == 1 and pods[0].get("status", {}).get("phase") == "Running":
            return pods[0]
        return None

    return cluster.wait_for(f"one Running pod of release {release} in {namespace}", one_running)


def requests_gpu(pod: dict[str, Any]) -> bool:
    return any(
        GPU_RESOURCE in container.get("resources", {}).get("limits", {}) for container in pod["spec"]["containers"]
    )


def assert_on_gpu_node_if_needed(pod: dict[str, Any]) -> None:
    node = pod["spec"].get("nodeName")
    if requests_gpu(pod):
        assert node in GPU_NODES, f"pod {pod['metadata']['name']} requests GPUs but runs on {node}"
    else:
        assert node, f"pod {pod['metadata']['name']} is not scheduled"


def helm_test(cluster: LocalCluster, release: str, namespace: str) -> dict[str, Any]:
    """Run ``helm test`` and return the test hook's last run as reported by Helm."""
    cluster.helm("test", release, "-n", namespace, "--timeout", "120s")
    hooks = release_status(cluster, release, namespace).get("hooks", [])
    tests = [hook for hook in hooks if "test" in hook.get("events", [])]
    assert tests, "the release has no test hook"
    return tests[0]
