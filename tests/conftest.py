"""Shared fixtures: synthesize a release from a settings mapping and pick objects out of it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hypothesis
import pytest

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
import cdk8s
from llamafactory_cdk8s import LlamaFactoryChart, values_from_mapping
from kube_cluster import LocalCluster

# CI draws the same examples on every run, so a red build points at the change that
# caused it. Local runs keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

Manifest = dict[str, Any]


def synth(settings: Mapping[str, Any] | None = None) -> list[Manifest]:
    """Synthesize the chart for ``settings`` layered over the defaults."""
    values = values_from_mapping(dict(settings or {}))
    app = cdk8s.App()
    chart = LlamaFactoryChart(app, "llamafactory", values=values)
    return cdk8s.Testing.synth(chart)


def only(manifests: list[Manifest], kind: str) -> Manifest:
    """Return the single object of ``kind``; fail when there is none or several."""
    found = [manifest for manifest in manifests if manifest["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def pod_spec(manifests: list[Manifest]) -> Manifest:
    return only(manifests, "Deployment")["spec"]["template"]["spec"]


def main_container(manifests: list[Manifest]) -> Manifest:
    containers = pod_spec(manifests)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(container: Manifest) -> dict[str, Any]:
    """Return the container's env as ``{name: value or valueFrom}``."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def mounts_of(container: Manifest) -> dict[str, Manifest]:
    return {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}


def require_tool(name: str) -> str:
    """Return the path of ``name``; skip without it, but fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not on PATH; run 'make setup' (scripts/setup.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def synthesize() -> Callable[..., list[Manifest]]:
    return synth


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One test cluster for the whole session (tests/kube_cluster.py), stopped at the end.

    Each test works in a namespace of its own. ``make test`` builds the programs first;
    a test that finds them missing fails, it is never skipped.
    """
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running
