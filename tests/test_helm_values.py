"""Tests of the chart's generated values.yaml and values.schema.json."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
from llamafactory_cdk8s import SettingsError, Values, values_from_mapping
from llamafactory_cdk8s.helm_values import (
    NOT_IN_VALUES_YAML,
    render_values_schema,
    render_values_schema_json,
    render_values_yaml,
)
from llamafactory_cdk8s.loading import deep_merge, values_from_mapping
from llamafactory_cdk8s.reference import parameters

DATA = Path(__file__).resolve().parent / "data"
CASE_FILES = sorted((DATA / "cases").glob("*.yaml")) + [DATA / "seed-values.yaml"]

# Cross-field rules of the model that JSON Schema cannot state, because each one
# compares two values (or counts repeated entries); the chart templates check them.
SCHEMA_CANNOT_EXPRESS = {
    "c6-mismatch.yaml": "GPU requests must equal GPU limits, a comparison of two values",
}
# The other ones, for the record (no case file hits them yet):
# - a request above its limit (resources.requests.X > resources.limits.X);
# - service.targetPort must be "http" or the port of the chosen mode;
# - an extraEnv name listed twice;
# - probes.startup periodSeconds × failureThreshold below 600 s;
# - two volumes with the same mount path, or a mount over a system directory;
# - ezua.virtualService.endpoint longer than 253 characters once placeholders are
#   substituted.

_KEY_LINE = re.compile(r"^( *)([^\s#-][^:]*):")


def _defaults_file() -> dict[str, Any]:
    return yaml.safe_load(render_values_yaml())


def _helm_view(user: dict[str, Any]) -> dict[str, Any]:
    """Merge a user file over values.yaml as Helm does: a null deletes its key."""
    return deep_merge(_defaults_file(), user)


def _schema_accepts(instance: Any) -> bool:
    return Draft7Validator(render_values_schema()).is_valid(instance)


def _model_accepts(user: dict[str, Any]) -> bool:
    try:
        values_from_mapping(user)
    except SettingsError:
        return False
    return True


def _nested(path: str, value: Any) -> dict[str, Any]:
    """Return a user file that sets one dotted key to ``value``."""
    node: Any = value
    for part in reversed(path.split(".")):
        node = {part: node}
    return node


def _key_lines(text: str) -> dict[str, int]:
    """Map every dotted key of a YAML text to its line number."""
    found: dict[str, int] = {}
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines()):
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        found[".".join(part for _, part in stack)] = number
    return found


# --- values.yaml -----------------------------------------------------------------------


def test_values_yaml_round_trip() -> None:
    loaded = yaml.safe_load(render_values_yaml())

    assert values_from_mapping(loaded) == Values()


def test_values_yaml_gives_the_defaults() -> None:
    # The keys values.yaml leaves out must have defaults that the file does not change.
    assert values_from_mapping(_defaults_file()) == Values()


def test_values_yaml_header() -> None:
    text = render_values_yaml()

    assert text.startswith("# Default values of the llamafactory chart.")
    assert "Generated from llamafactory_cdk8s/values.py: do not edit by hand." in text


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("image.tag", 'tag: "0.9.5"'),
        ("ezua.virtualService.endpoint", 'endpoint: "llamafactory.${DOMAIN_NAME}"'),
        ("ezua.virtualService.timeout", "timeout: null"),
        ("gradio.serverName", 'serverName: "0.0.0.0"'),
        ("resources.limits.nvidia.com/gpu", 'nvidia.com/gpu: "1"'),
        ("api.model", "model: null"),
    ],
)
def test_values_yaml_scalar_spelling(key: str, line: str) -> None:
    lines = render_values_yaml().splitlines()

    assert line in [text.strip() for text in lines], key


def test_values_yaml_strings_stay_strings() -> None:
    loaded = _defaults_file()

    assert loaded["image"]["tag"] == "0.9.5"
    assert loaded["gradio"]["serverName"] == "0.0.0.0"
    assert loaded["ezua"]["virtualService"]["timeout"] is None
    assert loaded["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_values_yaml_deterministic() -> None:
    assert render_values_yaml() == render_values_yaml()


@pytest.mark.parametrize(
    "key",
    [
        parameter.key
        for parameter in parameters()
        if not any(parameter.key == hidden or parameter.key.startswith(f"{hidden}.") for hidden in NOT_IN_VALUES_YAML)
    ],
)
def test_values_yaml_comment_above_key(key: str) -> None:
    text = render_values_yaml()
    lines = text.splitlines()
    positions = _key_lines(text)

    assert key in positions
    assert lines[positions[key] - 1].lstrip().startswith("# ")


def test_values_yaml_blank_line_between_sections() -> None:
    lines = render_values_yaml().splitlines()
    top_level = [number for number, line in enumerate(lines) if _KEY_LINE.match(line) and not line.startswith(" ")]

    for number in top_level[1:]:
        first_comment = number
        while lines[first_comment - 1].startswith("#"):
            first_comment -= 1
        assert lines[first_comment - 1] == "", lines[number]


def test_values_yaml_comment_width() -> None:
    comments = [line for line in render_values_yaml().splitlines() if line.lstrip().startswith("# ")]

    assert max(len(line) for line in comments) <= 88


def test_values_yaml_leaves_out_what_helm_names() -> None:
    loaded = _defaults_file()

    assert "releaseName" not in loaded
    assert "namespace" not in loaded
    assert "releaseName" in render_values_schema()["properties"]
    assert "releaseName" not in render_values_schema()["required"]


def test_values_yaml_key_order() -> None:
    loaded = _defaults_file()

    expected = [key for key in Values().model_dump(by_alias=True) if key not in NOT_IN_VALUES_YAML]
    assert list(loaded) == expected
    assert list(loaded["persistence"]["data"]) == list(Values().persistence.data.model_dump(by_alias=True))


# --- values.schema.json: shape ------------------------------------------------------------


def test_schema_is_draft_07() -> None:
    schema = render_values_schema()

    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


def test_schema_has_no_ref() -> None:
    text = render_values_schema_json()

    assert "$ref" not in text
    assert "$defs" not in text


def test_schema_json_deterministic() -> None:
    assert render_values_schema_json() == render_values_schema_json()


def test_schema_json_ends_with_newline() -> None:
    text = render_values_schema_json()

    assert text.endswith("}\n")
    assert json.loads(text) == render_values_schema()


def test_schema_closes_every_section() -> None:
    schema = render_values_schema()

    assert schema["additionalProperties"] is False
    assert schema["properties"]["persistence"]["properties"]["hfCache"]["additionalProperties"] is False
    assert schema["properties"]["extraEnv"]["anyOf"][0]["items"]["additionalProperties"] is False


def test_schema_descriptions_from_docstrings() -> None:
    schema = render_values_schema()

    assert schema["properties"]["mode"]["description"] == Values.model_fields["mode"].description


# --- values.schema.json: defaults and rejections -------------------------------------------


def test_schema_accepts_defaults() -> None:
    errors = list(Draft7Validator(render_values_schema()).iter_errors(_defaults_file()))

    assert errors == []


def test_schema_accepts_model_dump() -> None:
    assert _schema_accepts(Values().model_dump(by_alias=True))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("unknownKey", 1),
        ("image.unknownKey", 1),
        ("persistence.hfCache.sizee", "1Gi"),
        ("ezua.virtualService.extra", True),
        ("replicaCount", "one"),
        ("replicaCount", 2),
        ("replicaCount", True),
        ("gradio.serverPort", 80),
        ("mode", "train"),
        ("image.pullPolicy", "Sometimes"),
        ("ezua.virtualService.endpoint", "lf.example.com\nx: y"),
        ("ezua.virtualService.endpoint", "https://lf.example.com"),
        ("ezua.virtualService.endpoint", "${DOMAIN}.example.com"),
        ("image.registry", "registry example.com"),
        ("image.registry", "${AIRGAP_REGISTRY}:port"),
        ("resources.limits", {"nvidia.com/gpu": "1.5", "cpu": "8"}),
        ("resources.limits", {"cpu": "-1"}),
        ("resources.limits", {"bad name!": "1"}),
        ("resources.limits", {"cpu": None}),
        ("persistence.data.size", "lots"),
        ("persistence.data.mountPath", "relative/path"),
        ("extraEnv", [{"name": "HF_TOKEN", "value": "x"}]),
        ("extraEnv", [{"value": "x"}]),
        ("api.extraArgs", {"model_name_or_path": "x"}),
        ("podLabels", {"bad key!": "x"}),
        ("shmSizeGi", "5000"),
        ("imagePullSecrets", ["Bad_Name"]),
    ],
)
def test_schema_rejects(path: str, value: Any) -> None:
    user = _nested(path, value)

    assert not _schema_accepts(_helm_view(user))
    assert not _model_accepts(user)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("ezua.virtualService.endpoint", "llamafactory.${DOMAIN_NAME}"),
        ("ezua.virtualService.endpoint", "lf.${NAMESPACE}.${DOMAIN_NAME}"),
        ("ezua.virtualService.endpoint", "*.example.com"),
        ("image.registry", "${AIRGAP_REGISTRY}"),
        ("image.registry", "${AIRGAP_REGISTRY}/"),
        ("image.registry", "registry.example.com:5000/mirror"),
        ("resources.requests", {"cpu": 4, "memory": "32Gi", "nvidia.com/gpu": 1}),
        ("resources.limits", {"cpu": 0.5, "nvidia.com/gpu": 0}),
        ("resources.limits", {"memory": "64Gi", "nvidia.com/gpu": 1}),
        ("extraEnv", [{"name": "OMP_NUM_THREADS", "value": 8}, {"name": "EMPTY", "value": None}]),
        ("imagePullSecrets", ["regcred", {"name": "other"}]),
        ("huggingface.existingSecret", ""),
        ("huggingface.existingSecret", "hf-token"),
        ("shmSizeGi", "32"),
        ("persistence.output.size", 100),
        ("tolerations", [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": None}]),
    ],
)
def test_schema_accepts(path: str, value: Any) -> None:
    user = _nested(path, value)

    assert _schema_accepts(_helm_view(user))
    assert _model_accepts(user)


# Spellings pydantic's lax mode would convert; the model refuses them as the schema
# does, because a template would render the quoted spelling as a string.
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("hostIPC", "yes"),
        ("huggingface.offline", 1),
        ("api.port", "8000"),
    ],
)
def test_schema_and_model_refuse_converted_spellings(path: str, value: Any) -> None:
    user = _nested(path, value)

    assert not _schema_accepts(_helm_view(user))
    assert not _model_accepts(user)


def test_schema_accepts_cpu_from_requests() -> None:
    user = {"resources": {"limits": {"cpu": None}, "requests": {"cpu": "2"}}}

    assert _schema_accepts(_helm_view(user))
    assert _model_accepts(user)


def test_schema_rejects_api_without_model() -> None:
    user = {"mode": "api", "api": {"model": ""}}

    assert not _schema_accepts(_helm_view(user))
    assert not _model_accepts(user)


def test_schema_accepts_api_with_model() -> None:
    user = {"mode": "api", "api": {"model": "Qwen/Qwen2.5-0.5B-Instruct"}}

    assert _schema_accepts(_helm_view(user))


# --- values.schema.json: nulls ------------------------------------------------------------

NULL_KEYS = [
    "tolerations",
    "nodeSelector",
    "image.registry",
    "api.model",
    "huggingface.existingSecret",
    "resources.requests",
    "persistence.hfCache.mountPath",
    "probes.startup.failureThreshold",
    "persistence.hfCache",
    "persistence.data.mountPath",
    "probes.readiness.failureThreshold",
    "resources.limits",
    "image",
    "image.tag",
    "mode",
    "podSecurityContext.seccompProfile",
]


@pytest.mark.parametrize("path", NULL_KEYS)
def test_schema_null_kept_agrees(path: str) -> None:
    # A values editor sees the null itself, before Helm's merge deletes it.
    user = _nested(path, None)
    instance = deep_merge(_defaults_file(), user, keep_nulls=True)

    assert _schema_accepts(instance) == _model_accepts(user)


@pytest.mark.parametrize("path", NULL_KEYS)
def test_schema_null_deleted_agrees(path: str) -> None:
    # Helm deletes the key and validates the rest; `required` catches real defaults.
    user = _nested(path, None)

    assert _schema_accepts(_helm_view(user)) == _model_accepts(user)


# --- case files -------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.name for path in CASE_FILES])
def test_case_file_agrees(path: Path) -> None:
    user = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    model = _model_accepts(copy.deepcopy(user))
    schema = _schema_accepts(_helm_view(copy.deepcopy(user)))

    if path.name in SCHEMA_CANNOT_EXPRESS:
        assert schema, f"{path.name}: {SCHEMA_CANNOT_EXPRESS[path.name]}"
        assert not model
    else:
        assert schema == model


def test_seed_values_accepted() -> None:
    user = yaml.safe_load((DATA / "seed-values.yaml").read_text(encoding="utf-8"))

    assert _schema_accepts(_helm_view(user))
