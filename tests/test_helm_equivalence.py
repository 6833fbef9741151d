"""Property: for generated values files, helm and the constructs agree.

A file the values model accepts renders, through ``helm template``, to exactly the
objects the constructs synthesize from it (Helm's bookkeeping labels aside). A file
the model refuses is refused by Helm too, through the schema or a template check,
and renders nothing. Failing examples found once are kept in REGRESSIONS.
"""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import require_tool
from helm_support import HelmError, assert_same_objects, helm_template, python_objects
from llamafactory_cdk8s.errors import LlamaFactoryError
from strategies import LEAVES, RELEASE_NAMES, values_files

EXAMPLES = int(os.environ.get("HELM_EQUIVALENCE_EXAMPLES", "250"))

REGRESSIONS: list[dict] = [
    # The model reads an empty tag as the default; the schema refused it.
    {"image": {"tag": ""}},
    # An empty adapter passed --adapter_name_or_path "" to the API; the chart left it out.
    {"mode": "api", "api": {"model": "org/model", "adapter": ""}},
    # An empty seccompProfile map means RuntimeDefault; the chart read it as unset.
    {"securityContext": {"seccompProfile": {}}, "podSecurityContext": {"seccompProfile": {}}},
]
"""Values files that once made the two renderers disagree."""


def _outcome(settings_: dict, release: str) -> tuple[str, object]:
    logging.disable(logging.WARNING)  # the model's advice on odd settings is tested elsewhere
    try:
        python = python_objects(settings_, release=release, namespace="team-a")
    except LlamaFactoryError as error:
        python_error: LlamaFactoryError | None = error
        python = None
    else:
        python_error = None
    try:
        helm = helm_template(settings_, release=release, namespace="team-a")
    except HelmError as error:
        helm_error: HelmError | None = error
        helm = None
    else:
        helm_error = None

    if python_error is not None or helm_error is not None:
        assert python_error is not None and helm_error is not None, (
            f"only {'the model' if python_error else 'helm'} refused {settings_!r}: "
            f"{python_error or helm_error}"
        )
        return "refused", (python_error, helm_error)
    assert helm is not None and python is not None
    assert_same_objects(helm, python)
    return "rendered", helm


def test_every_leaf_has_a_strategy() -> None:
    assert len(LEAVES) > 80
    assert {"mode", "image.tag", "resources", "persistence.data.size", "ezua.virtualService.endpoint"} <= set(LEAVES)


def _regression_examples(test):
    for case in REGRESSIONS:
        test = example(settings_=case, release="lf")(test)
    return test


def _record(outcome: str, detail: object) -> None:
    if outcome == "refused":
        python_error = detail[0]  # type: ignore[index]
        event(f"refused: {str(python_error).splitlines()[1].split(':')[0].strip(' -')}")
    else:
        event(outcome)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@_regression_examples
@given(settings_=values_files(), release=RELEASE_NAMES)
def test_helm_and_the_constructs_agree(settings_: dict, release: str) -> None:
    require_tool("helm")
    _record(*_outcome(settings_, release))


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(settings_=values_files(invalid=True), release=RELEASE_NAMES)
def test_invalid_files_are_refused_by_both(settings_: dict, release: str) -> None:
    require_tool("helm")
    outcome, detail = _outcome(settings_, release)

    assert outcome == "refused", f"an invalid leaf was accepted: {settings_!r}"
    _record(outcome, detail)


# Keys that values.yaml leaves out (deprecated, or for the plain manifests only) are
# not drawn above; these files cover them.
HIDDEN_KEY_FILES = {
    "target-port-name": ({"service": {"targetPort": "http"}}, "rendered"),
    "target-port-number": ({"service": {"targetPort": 7860}}, "rendered"),
    "target-port-zero": ({"service": {"targetPort": 0}}, "refused"),
    "target-port-other": ({"service": {"targetPort": 8000}}, "refused"),
    "target-port-digits": ({"service": {"targetPort": "7860"}}, "refused"),
    "kyverno-labels": ({"ezua": {"kyverno": {"enabled": True, "labels": {"team": "a"}}}}, "rendered"),
    "kyverno-label-clash": ({"ezua": {"kyverno": {"labels": {"hpe-ezua/app": "x"}}}, "podLabels": {"hpe-ezua/app": "y"}}, "rendered"),
    "release-keys": ({"releaseName": "llamafactory", "namespace": "llamafactory"}, "rendered"),
    "replicas-above-one": ({"replicaCount": 2}, "refused"),
    "api-without-model": ({"mode": "api"}, "refused"),
    "request-above-limit": ({"resources": {"requests": {"cpu": "9"}, "limits": {"cpu": "8"}}}, "refused"),
}


@pytest.mark.parametrize("name", sorted(HIDDEN_KEY_FILES))
def test_fixed_files_agree(name: str) -> None:
    require_tool("helm")
    settings_, expected = HIDDEN_KEY_FILES[name]

    assert _outcome(settings_, "lf")[0] == expected
