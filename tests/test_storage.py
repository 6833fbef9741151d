"""Tests of StorageConstruct: claims, emptyDirs and mounts."""

from __future__ import annotations

import pytest

from conftest import main_container, mounts_of, of_kind, pod_spec, synth

CLAIMS = ("llamafactory-hf-cache", "llamafactory-data", "llamafactory-output", "llamafactory-webui-state")


def claims_by_name(manifests):
    return {claim["metadata"]["name"]: claim for claim in of_kind(manifests, "PersistentVolumeClaim")}


def test_default_claims_sizes_and_mounts():
    manifests = synth()

    claims = claims_by_name(manifests)
    mounts = mounts_of(main_container(manifests))

    assert sorted(claims) == sorted(CLAIMS)
    assert claims["llamafactory-hf-cache"]["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claims["llamafactory-data"]["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claims["llamafactory-output"]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert mounts["/root/.cache/huggingface"]["name"] == "hf-cache"
    assert mounts["/app/custom_data"]["name"] == "data"
    assert mounts["/app/output"]["name"] == "output"
    assert "/app/data" not in mounts


def test_claims_are_kept_not_hooks():
    for claim in of_kind(synth(), "PersistentVolumeClaim"):
        annotations = claim["metadata"]["annotations"]

        assert annotations["helm.sh/resource-policy"] == "keep"
        assert not any(key.startswith("helm.sh/hook") for key in annotations)


def test_claim_defaults_stated():
    claim = claims_by_name(synth())["llamafactory-data"]

    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert "storageClassName" not in claim["spec"]


def test_webui_state_on_claim_by_default():
    manifests = synth()

    mounts = mounts_of(main_container(manifests))

    for directory in ("saves", "cache", "config", "llamaboard_cache", "llamaboard_config"):
        mount = mounts[f"/app/{directory}"]
        assert mount["name"] == "webui-state"
        assert mount["subPath"] == directory


def test_webui_state_for_newer_board():
    # LLaMA Factory 0.9.5 writes llamaboard_cache/ and llamaboard_config/ in /app; on
    # a read-only root, LLaMA Board fails to start without these mounts.
    manifests = synth()

    mounts = mounts_of(main_container(manifests))

    assert mounts["/app/llamaboard_cache"]["subPath"] == "llamaboard_cache"
    assert mounts["/app/llamaboard_config"]["subPath"] == "llamaboard_config"


@pytest.mark.parametrize("storage_class, expected", [("fast", "fast"), ("-", "")])
def test_storage_class(storage_class, expected):
    manifests = synth({"persistence": {"output": {"storageClass": storage_class}}})

    claim = claims_by_name(manifests)["llamafactory-output"]

    assert claim["spec"]["storageClassName"] == expected


def test_size_access_mode_and_path():
    settings = {"persistence": {"data": {"size": "1T", "accessMode": "ReadWriteMany", "mountPath": "/datasets"}}}

    manifests = synth(settings)
    claim = claims_by_name(manifests)["llamafactory-data"]

    assert claim["spec"]["resources"]["requests"]["storage"] == "1T"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert mounts_of(main_container(manifests))["/datasets"]["name"] == "data"


def test_disabled_becomes_empty_dir():
    manifests = synth({"persistence": {"output": {"enabled": False}}})

    volumes = {volume["name"]: volume for volume in pod_spec(manifests)["volumes"]}

    assert "llamafactory-output" not in claims_by_name(manifests)
    assert volumes["output"] == {"emptyDir": {}, "name": "output"}
    assert mounts_of(main_container(manifests))["/app/output"]["name"] == "output"


def test_existing_claim_mounted_not_created():
    manifests = synth({"persistence": {"hfCache": {"existingClaim": "shared-models"}}})

    volumes = {volume["name"]: volume for volume in pod_spec(manifests)["volumes"]}

    assert "llamafactory-hf-cache" not in claims_by_name(manifests)
    assert volumes["hf-cache"]["persistentVolumeClaim"]["claimName"] == "shared-models"


def test_tmp_always_writable():
    volumes = {volume["name"]: volume for volume in pod_spec(synth())["volumes"]}

    assert volumes["tmp"] == {"emptyDir": {}, "name": "tmp"}
    assert mounts_of(main_container(synth()))["/tmp"]["name"] == "tmp"
