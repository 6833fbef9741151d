"""Tests of ShmVolume."""

from __future__ import annotations

import logging

import pytest

import llamafactory_cdk8s  # noqa: F401
import cdk8s
from conftest import main_container, mounts_of, pod_spec, synth
from llamafactory_cdk8s import ConstructError, ShmVolume


def volumes(manifests):
    return {volume["name"]: volume for volume in pod_spec(manifests)["volumes"]}


def test_default_shm_16gi():
    manifests = synth()

    assert volumes(manifests)["shm"] == {"emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}, "name": "shm"}
    assert mounts_of(main_container(manifests))["/dev/shm"]["name"] == "shm"


def test_string_and_int_sizes_render_same():
    as_int = volumes(synth({"shmSizeGi": 16}))["shm"]
    as_string = volumes(synth({"shmSizeGi": "16"}))["shm"]

    assert as_int == as_string


def test_zero_means_none():
    manifests = synth({"shmSizeGi": 0})

    assert "shm" not in volumes(manifests)
    assert "/dev/shm" not in mounts_of(main_container(manifests))


def test_memory_limit_below_size_reported(caplog):
    chart = cdk8s.Chart(cdk8s.App(), "test")

    with caplog.at_level(logging.WARNING):
        shm = ShmVolume(chart, "shm", size_gi=16, memory_limit="8Gi")

    assert len(shm.warnings) == 1
    assert "8Gi" in shm.warnings[0]
    assert "8Gi" in caplog.text


def test_memory_limit_above_size_silent():
    chart = cdk8s.Chart(cdk8s.App(), "test")

    shm = ShmVolume(chart, "shm", size_gi=16, memory_limit="64Gi")

    assert shm.warnings == []


def test_non_positive_size_rejected():
    chart = cdk8s.Chart(cdk8s.App(), "test")

    with pytest.raises(ConstructError, match="size_gi=0"):
        ShmVolume(chart, "shm", size_gi=0)


@pytest.mark.parametrize("size", ["16", 1.5, True, None])
def test_size_must_be_whole_gib(size):
    chart = cdk8s.Chart(cdk8s.App(), "c")

    with pytest.raises(ConstructError, match="whole number of GiB"):
        ShmVolume(chart, "shm", size_gi=size)
