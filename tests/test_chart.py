"""Tests of LlamaFactoryChart: whole-release snapshots per variant, names and labels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import main_container, of_kind, only, synth

VARIANTS = {
    "defaults": {},
    "api": {"mode": "api", "api": {"model": "Qwen/Qwen2.5-7B-Instruct", "template": "qwen", "apiKey": "k"}},
    "persistence-off": {
        "persistence": {name: {"enabled": False} for name in ("hfCache", "data", "output", "webuiState")}
    },
    "existing-claims": {
        "persistence": {
            "hfCache": {"existingClaim": "models"},
            "data": {"existingClaim": "datasets"},
            "output": {"existingClaim": "checkpoints"},
            "webuiState": {"existingClaim": "board"},
        }
    },
    "existing-secret": {"huggingface": {"existingSecret": "hf-credentials", "existingSecretKey": "HF_TOKEN"}},
    "no-gpu": {"resources": {"limits": {"nvidia.com/gpu": 0}}},
    "non-root": {
        "podSecurityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 1000},
        "securityContext": {"readOnlyRootFilesystem": True},
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_snapshot(variant, snapshot):
    manifests = synth(VARIANTS[variant])

    assert manifests == snapshot
    assert len(of_kind(manifests, "Deployment")) == 1


def test_every_namespaced_object_in_release_namespace():
    manifests = synth({"namespace": "ml-team"})

    for manifest in manifests:
        expected = "istio-system" if manifest["kind"] == "AuthorizationPolicy" else "ml-team"
        assert manifest["metadata"]["namespace"] == expected, manifest["kind"]


def test_names_derive_from_release():
    manifests = synth({"releaseName": "team-a"})

    names = {manifest["metadata"]["name"] for manifest in manifests if manifest["kind"] != "AuthorizationPolicy"}

    assert names == {
        "team-a-llamafactory",
        "team-a-llamafactory-hf-cache",
        "team-a-llamafactory-data",
        "team-a-llamafactory-output",
        "team-a-llamafactory-webui-state",
    }


def test_release_containing_chart_name_used_as_is():
    deployment = only(synth({"releaseName": "my-llamafactory"}), "Deployment")

    assert deployment["metadata"]["name"] == "my-llamafactory"


def test_fullname_and_name_override():
    manifests = synth({"fullnameOverride": "board", "nameOverride": "lf"})

    deployment = only(manifests, "Deployment")

    assert deployment["metadata"]["name"] == "board"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "lf"


def test_two_releases_share_no_names():
    first = synth({"releaseName": "one"})
    second = synth({"releaseName": "two"})

    first_names = {(m["kind"], m["metadata"]["name"]) for m in first}
    second_names = {(m["kind"], m["metadata"]["name"]) for m in second}

    assert first_names.isdisjoint(second_names)
    assert only(first, "Deployment")["spec"]["selector"] != only(second, "Deployment")["spec"]["selector"]


release_names = st.from_regex(r"[a-z]([-a-z0-9]{0,51}[a-z0-9])?", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(release=release_names)
def test_any_release_name_gives_valid_names(release):
    manifests = synth({"releaseName": release})

    for manifest in manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= 63, name
        assert name[0].isalnum(), name
        assert name[-1].isalnum(), name
        for value in manifest["metadata"].get("labels", {}).values():
            assert len(value) <= 63, value
    assert main_container(manifests)["name"] == "llamafactory"
