"""Tests of the generated settings reference."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

import llamafactory_cdk8s.values as values_module
from conftest import ROOT
from llamafactory_cdk8s.reference import parameters, render_table, replace_table


def test_readme_table_current():
    readme = (ROOT / "README.md").read_text()

    assert replace_table(readme) == readme, "run: python -m llamafactory_cdk8s.reference --write README.md"


def test_table_lists_seed_keys():
    keys = {parameter.key for parameter in parameters()}

    for key in (
        "replicaCount", "image.repository", "image.tag", "image.pullPolicy", "imagePullSecrets",
        "nameOverride", "fullnameOverride", "mode", "gradio.serverPort", "gradio.serverName",
        "api.port", "extraEnv", "huggingface.token", "huggingface.existingSecret",
        "huggingface.existingSecretKey", "service.type", "service.port", "service.targetPort",
        "resources.requests", "resources.limits", "shmSizeGi", "persistence.hfCache.size",
        "persistence.data.mountPath", "persistence.output.storageClass", "podSecurityContext.runAsUser",
        "securityContext.readOnlyRootFilesystem", "tolerations", "nodeSelector", "affinity", "hostIPC",
        "ezua.virtualService.enabled", "ezua.virtualService.endpoint", "ezua.virtualService.istioGateway",
        "ezua.kyverno.enabled", "ezua.kyverno.labels",
    ):
        assert key in keys, key


def model_classes():
    return [
        cls
        for _, cls in inspect.getmembers(values_module, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == values_module.__name__
    ]


@pytest.mark.parametrize("model", model_classes(), ids=lambda cls: cls.__name__)
def test_every_field_documented(model):
    undocumented = [name for name, field in model.model_fields.items() if not field.description]

    assert undocumented == []


def test_replace_table_needs_markers():
    with pytest.raises(ValueError, match="markers"):
        replace_table("no table here")


def test_table_has_row_per_parameter():
    assert render_table().count("\n| `") == len(parameters())
