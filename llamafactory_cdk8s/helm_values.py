"""The Helm chart's ``values.yaml`` and ``values.schema.json``, generated from the model.

Both files are derived from :class:`~llamafactory_cdk8s.values.Values`, so the chart
cannot drift from the Python side: ``values.yaml`` is the defaults with each field's
docstring as a comment, and the schema is pydantic's JSON Schema rewritten for Helm 3,
which validates with JSON Schema draft-07 and does not resolve ``$defs`` references
reliably in every version, so every reference is inlined.

Helm validates the schema against the chart defaults merged with the user's files, and
that merge deletes a key the user sets to ``null`` when its chart default is not null
(``coalesceTablesFullKey`` in Helm's ``pkg/chartutil/coalesce.go``). A key whose
default is not empty is therefore ``required``, so that a ``null`` for it is rejected
as the loader rejects it.

This module does not import cdk8s: rendering the chart stays apart from the constructs.
Run ``python -m llamafactory_cdk8s.helm_values CHART_DIR`` to write both files.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .values import (
    AFFINITY_SCHEMA,
    MAX_EXACT_INTEGER,
    RESOURCE_NAME_PATTERN,
    YAML_TEXT_PATTERN,
    GPU_COUNT_PATTERN,
    SECRET_WORDS,
    nested_model,
    GPU_RESOURCE,
    HOSTNAME_PATTERN,
    LABEL_KEY_PATTERN,
    PLACEHOLDER_PATTERN,
    OWN_TRAINING_ARGUMENTS,
    YAML_KEYWORD_NAMES,
    QUANTITY_PATTERN,
    RESERVED_ENV,
    ApiValues,
    ClaimValues,
    EnvVar,
    HuggingFaceValues,
    ImageValues,
    ResourcesValues,
    TrainingArgsValues,
    Values,
    VirtualServiceValues,
)

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

COMMENT_WIDTH = 88

HEADER = """\
# Default values of the llamafactory chart.
#
# Generated from llamafactory_cdk8s/values.py: do not edit by hand. Change the field
# or its docstring in the model and run `python app.py`.
"""

# Fields where the model reads "" as unset (``empty_as_unset``). values.yaml shows them
# as "", the spelling Helm charts use, and the schema accepts "" beside the pattern.
EMPTY_AS_UNSET = {
    (ApiValues, "existing_secret"),
    (HuggingFaceValues, "existing_secret"),
    (ClaimValues, "existing_claim"),
}

# A placeholder stands for one host character: the model replaces each one with "x"
# before it checks the host name or registry.
_PLACEHOLDER = PLACEHOLDER_PATTERN.replace("(", "(?:", 1)

# Words that YAML 1.1 (PyYAML, Go's yaml.v2) reads as booleans or null.
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}

# A string that every YAML parser reads back as the same string when unquoted.
_PLAIN_STRING = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")


# --- values.yaml ----------------------------------------------------------------------


class _ValuesDumper(yaml.SafeDumper):
    """Dumps every string that YAML could read as another type in double quotes."""


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    plain = _PLAIN_STRING.fullmatch(value) is not None and value.lower() not in _YAML_WORDS
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else '"')


_ValuesDumper.add_representer(str, _represent_string)


def _comment(description: str | None, indent: int) -> list[str]:
    text = " ".join((description or "").split())
    if not text:
        return []
    width = max(COMMENT_WIDTH - indent - 2, 40)
    lines = textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)
    return [f"{' ' * indent}# {line}" for line in lines]


def _leaf(key: str, value: Any, indent: int) -> list[str]:
    text = yaml.dump(
        {key: value}, Dumper=_ValuesDumper, default_flow_style=False, sort_keys=False, width=10_000
    )
    return [f"{' ' * indent}{line}" for line in text.splitlines()]


def _section_lines(section: BaseModel, indent: int, prefix: str = "") -> list[str]:
    """Render one model instance key by key, each key under its docstring."""
    lines: list[str] = []
    dumped = section.model_dump(by_alias=True)
    for name, field in type(section).model_fields.items():
        key = field.alias or name
        if prefix + key in NOT_IN_VALUES_YAML:
            continue
        value = getattr(section, name)
        if indent == 0 and lines:
            lines.append("")
        lines.extend(_comment(field.description, indent))
        if isinstance(value, BaseModel):
            lines.append(f"{' ' * indent}{key}:")
            lines.extend(_section_lines(value, indent + 2, f"{prefix}{key}."))
            continue
        shown = dumped[key]
        if shown is None and (type(section), name) in EMPTY_AS_UNSET:
            shown = ""
        lines.extend(_leaf(key, shown, indent))
    return lines


PLAIN_MANIFESTS_ONLY = ("releaseName", "namespace")
"""Keys that only the plain manifests read: Helm names the release and its namespace."""

DEPRECATED = ("service.targetPort", "ezua.kyverno", "persistence.webuiState.mountPath")
"""Keys kept for values files of the chart this project replaces. Three change nothing:
``service.targetPort``, ``ezua.kyverno.enabled``, and ``webuiState.mountPath``,
which must stay ``/app``. ``ezua.kyverno.labels`` repeats ``podLabels``."""

NOT_IN_VALUES_YAML = PLAIN_MANIFESTS_ONLY + DEPRECATED
"""Keys the chart's values.yaml leaves out, so that every key it shows does something.
The schema still accepts them, so one values file serves both outputs and old files
keep working."""


def render_values_yaml() -> str:
    """Render the defaults as the chart's commented ``values.yaml``."""
    return HEADER + "\n" + "\n".join(_section_lines(Values(), 0)) + "\n"


# --- values.schema.json: inlining ------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "propertyNames", "not")


def _inline(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Replace every ``$ref`` with a copy of its target and drop ``title`` and ``default``.

    The defaults are left out because pydantic states a section's class defaults,
    which differ from the instance defaults in values.yaml (``ClaimValues.size``).
    """
    if "$ref" in node:
        target = definitions[node["$ref"].removeprefix("#/$defs/")]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**target, **siblings}
    inlined: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "title", "default"):
            continue
        if key in _SCHEMA_MAPS:
            inlined[key] = {name: _inline(item, definitions) for name, item in value.items()}
        elif key in _SCHEMA_LISTS:
            inlined[key] = [_inline(item, definitions) for item in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            inlined[key] = _inline(value, definitions)
        else:
            inlined[key] = value
    return inlined


def _map_keys_closed(node: Any) -> None:
    """Turn ``patternProperties`` into ``propertyNames`` plus ``additionalProperties``.

    pydantic writes a constrained dict key as ``patternProperties``, which lets keys
    that match no pattern through; the model rejects them.
    """
    if isinstance(node, list):
        for item in node:
            _map_keys_closed(item)
        return
    if not isinstance(node, dict):
        return
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
        (pattern, value_schema), = patterns.items()
        del node["patternProperties"]
        node["propertyNames"] = {"pattern": pattern}
        node["additionalProperties"] = value_schema
    for value in node.values():
        _map_keys_closed(value)


# --- values.schema.json: rules the model checks in Python -------------------------------


def _with_placeholders(pattern: str) -> str:
    """Let every host character of ``pattern`` also be a platform placeholder."""
    pattern = pattern.replace("[-a-z0-9]", "\0")
    pattern = pattern.replace("[a-z0-9]", f"(?:[a-z0-9]|{_PLACEHOLDER})")
    return pattern.replace("\0", f"(?:[-a-z0-9]|{_PLACEHOLDER})")


def _endpoint_schema(description: str) -> dict[str, Any]:
    # NOTE: the model also limits the host to 253 characters after it replaces each
    # placeholder with one letter; a maxLength on the raw string cannot state that.
    return {"type": "string", "pattern": _with_placeholders(HOSTNAME_PATTERN), "description": description}


def _registry_schema(description: str) -> dict[str, Any]:
    # The model strips trailing slashes and then matches a host, an optional port and
    # path segments; an empty result (no registry) is allowed.
    character = f"(?:[A-Za-z0-9.-]|{_PLACEHOLDER})"
    segment = f"(?:[a-z0-9._-]|{_PLACEHOLDER})"
    host = f"{character}+(?::[0-9]+)?(?:/{segment}+)*"
    return {"type": "string", "pattern": f"^(?:{host})?/*$", "description": description}


def _quantity_schema() -> dict[str, Any]:
    # The model turns YAML numbers into quantity strings (4 becomes "4").
    return {
        "anyOf": [
            {"type": "string", "pattern": QUANTITY_PATTERN},
            {"type": "number", "minimum": 0, "maximum": MAX_EXACT_INTEGER},
        ]
    }


def _resource_map_schema(description: str) -> dict[str, Any]:
    gpus = {"anyOf": [{"type": "string", "pattern": GPU_COUNT_PATTERN}, {"type": "integer", "minimum": 0, "maximum": 9999}]}
    return {
        "type": "object",
        "description": description,
        "propertyNames": {"pattern": RESOURCE_NAME_PATTERN},
        "properties": {GPU_RESOURCE: gpus},
        "additionalProperties": _quantity_schema(),
    }


# Whole numbers beyond 2^53 change when Helm reads them as floats; the model refuses them.
_EXACT_NUMBER = {"minimum": -MAX_EXACT_INTEGER, "maximum": MAX_EXACT_INTEGER}


def _env_value_schema(description: str) -> dict[str, Any]:
    # Numbers and booleans become strings, and null becomes "".
    return {
        "type": ["string", "number", "boolean", "null"],
        "pattern": YAML_TEXT_PATTERN,
        **_EXACT_NUMBER,
        "description": description,
    }


def _env_name_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "not": {"enum": sorted(RESERVED_ENV)}}


API_ARGUMENTS = ["adapter_name_or_path", "infer_backend", "model_name_or_path", "template"]
"""Arguments of ``llamafactory-cli api`` that have a key of their own under ``api``."""


def _extra_args_schema(schema: dict[str, Any], reserved: list[str]) -> dict[str, Any]:
    # Names with a word such as token or key, which the model keeps off the command line.
    secret_like = {"pattern": f"(^|_)({'|'.join(SECRET_WORDS)})(_|$)"}
    names = {**schema["propertyNames"], "not": {"anyOf": [{"enum": reserved}, secret_like]}}
    return {**schema, "propertyNames": names, "additionalProperties": {**schema["additionalProperties"], **_EXACT_NUMBER}}


def _affinity_schema(shape: Any) -> dict[str, Any]:
    """Turn AFFINITY_SCHEMA's shape into a schema whose maps accept only known keys."""
    if isinstance(shape, dict):
        properties = {key: _affinity_schema(value) for key, value in shape.items()}
        return {"type": "object", "properties": properties, "additionalProperties": False}
    if isinstance(shape, list):
        return {"type": "array", "items": _affinity_schema(shape[0])}
    return {}


def _shm_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # The model reads a string of digits as the number; the pattern keeps 0..4096.
    digits = {"type": "string", "pattern": r"^[ \t\n\r\f\v]*0*([0-9]{1,3}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6])[ \t\n\r\f\v]*$"}
    core = {key: value for key, value in schema.items() if key != "description"}
    return {"anyOf": [core, digits], "description": schema["description"]}


def _pull_secrets_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # A plain name stands for {name: …}.
    name = schema["items"]["properties"]["name"]
    plain = {key: value for key, value in name.items() if key != "description"}
    return {**schema, "items": {"anyOf": [schema["items"], plain]}}


def _unset_as_empty(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "anyOf": [*schema["anyOf"], {"const": ""}]}


def _field_override(model: type[BaseModel], name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Return the schema of a field whose rule the model checks in Python code."""
    description = schema.get("description", "")
    if (model, name) == (VirtualServiceValues, "endpoint"):
        return _endpoint_schema(description)
    if (model, name) == (ImageValues, "registry"):
        return _registry_schema(description)
    if model is ResourcesValues:
        return _resource_map_schema(description)
    if (model, name) == (ClaimValues, "size"):
        return {**_quantity_schema(), "description": description}
    if (model, name) == (EnvVar, "value"):
        return _env_value_schema(description)
    if (model, name) == (ImageValues, "tag"):
        # "" means the default tag, and a whole number is read as its digits.
        text = {"type": "string", "pattern": f"^({schema['pattern'].strip('^$')})?$"}
        number = {"type": "integer", "minimum": 0, "maximum": MAX_EXACT_INTEGER}
        return {"anyOf": [text, number], "description": description}
    if (model, name) == (EnvVar, "name"):
        return _env_name_schema(schema)
    if (model, name) == (ApiValues, "extra_args"):
        return _extra_args_schema(schema, API_ARGUMENTS)
    if (model, name) == (TrainingArgsValues, "extra_args"):
        return _extra_args_schema(schema, sorted([*OWN_TRAINING_ARGUMENTS, *YAML_KEYWORD_NAMES]))
    if (model, name) == (Values, "affinity"):
        return {**_affinity_schema(AFFINITY_SCHEMA), "description": description}
    if (model, name) == (Values, "shm_size_gi"):
        return _shm_schema(schema)
    if (model, name) == (Values, "image_pull_secrets"):
        return _pull_secrets_schema(schema)
    if (model, name) in EMPTY_AS_UNSET:
        return _unset_as_empty(schema)
    return schema


# --- values.schema.json: nulls, required keys, sections --------------------------------


def _is_empty(default: Any) -> bool:
    # The same test as loading.drop_nulls: these defaults may be removed with null.
    return default is None or (not isinstance(default, BaseModel) and default in ("", [], {}))


def _accepts_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_accepts_null(branch) for branch in schema.get("anyOf", []))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if _accepts_null(schema):
        return schema
    core = {key: value for key, value in schema.items() if key != "description"}
    wrapped: dict[str, Any] = {"anyOf": [core, {"type": "null"}]}
    if "description" in schema:
        wrapped["description"] = schema["description"]
    return wrapped


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop the ``null`` branch of an ``X | None`` field whose default is not empty.

    The loader rejects a null there, because it would remove a real default.
    """
    if "anyOf" not in schema:
        return schema
    branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
    if len(branches) > 1:
        return {**schema, "anyOf": branches}
    return {**branches[0], **{key: value for key, value in schema.items() if key != "anyOf"}}



def _object_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """Return the object schema of a section, of a list of sections, or of its anyOf."""
    if schema.get("type") == "array":
        return _object_branch(schema["items"])
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "object" or branch.get("type") == "array":
            return _object_branch(branch)
    return schema


def _adjust_section(schema: dict[str, Any], model: type[BaseModel], defaults: BaseModel | None) -> None:
    """Apply nulls, required keys and Python-checked rules to one section, in place.

    ``defaults`` is the section's default instance, or None inside a list, where Helm
    merges nothing and only the model's own required fields must be present.
    """
    required = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = schema["properties"][key]
        default = getattr(defaults, name) if defaults is not None else None

        section = nested_model(field.annotation)
        if section is not None:
            nested_defaults = default if isinstance(default, BaseModel) else None
            _adjust_section(_object_branch(prop), section, nested_defaults)

        prop = _field_override(model, name, prop)
        if defaults is not None and _is_empty(default):
            prop = _nullable(prop)
        elif defaults is not None:
            prop = _not_null(prop)
        if field.is_required() or (defaults is not None and not _is_empty(default)):
            required.append(key)
        schema["properties"][key] = prop
    schema["additionalProperties"] = False
    if required:
        schema["required"] = required


def _cross_field_rules(schema: dict[str, Any]) -> None:
    """Add the cross-field rules of the model that draft-07 can state."""
    schema["if"] = {"properties": {"mode": {"const": "api"}}, "required": ["mode"]}
    schema["then"] = {
        "properties": {"api": {"properties": {"model": {"type": "string", "minLength": 1}}, "required": ["model"]}}
    }
    # An enabled training run needs a model and a dataset.
    needed = {"type": "string", "minLength": 1}
    schema["allOf"] = [
        {
            "if": {"properties": {"training": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}}},
            "then": {
                "properties": {
                    "training": {
                        "properties": {
                            "args": {"properties": {"model": needed, "dataset": needed}, "required": ["model", "dataset"]}
                        }
                    }
                }
            },
        }
    ]
    requests_cpu = {"properties": {"requests": {"type": "object", "required": ["cpu"]}}, "required": ["requests"]}
    limits_cpu = {"properties": {"limits": {"type": "object", "required": ["cpu"]}}, "required": ["limits"]}
    schema["properties"]["resources"]["anyOf"] = [limits_cpu, requests_cpu]
    schema["properties"]["training"]["properties"]["resources"]["anyOf"] = [limits_cpu, requests_cpu]


def _drop_required(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for value in node.values():
            _drop_required(value)
    elif isinstance(node, list):
        for value in node:
            _drop_required(value)


def render_values_schema() -> dict[str, Any]:
    """Build the chart's ``values.schema.json`` (JSON Schema draft-07, no ``$ref``)."""
    generated = Values.model_json_schema(by_alias=True, mode="validation")
    schema = _inline(generated, generated.get("$defs", {}))
    _map_keys_closed(schema)
    _adjust_section(schema, Values, Values())
    _cross_field_rules(schema)
    # Keys left out of values.yaml have no default to fill them in, so they and
    # everything under them are optional.
    for path in NOT_IN_VALUES_YAML:
        *parents, key = path.split(".")
        section = schema
        for parent in parents:
            section = section["properties"][parent]
        section["required"] = [name for name in section.get("required", []) if name != key]
        _drop_required(section["properties"][key])
    schema["$schema"] = DRAFT_07
    schema["title"] = "Values of the llamafactory chart"
    return copy.deepcopy(schema)


def render_values_schema_json() -> str:
    """Serialize the schema with sorted keys, so that equal models give equal bytes."""
    return json.dumps(render_values_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``values.yaml`` and ``values.schema.json`` into the chart directory given."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m llamafactory_cdk8s.helm_values CHART_DIR", file=sys.stderr)
        return 2
    directory = Path(arguments[0])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "values.yaml").write_text(render_values_yaml(), encoding="utf-8")
    (directory / "values.schema.json").write_text(render_values_schema_json(), encoding="utf-8")
    print(f"helm_values: wrote values.yaml and values.schema.json in {directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
