"""Load settings from YAML files layered over the defaults.

Files are merged in order, the way Helm merges ``-f`` files: maps merge key by key,
lists and scalars replace. A ``null`` follows Helm too: it removes the key, so the
default applies where the default is empty, and anything else is rejected with the
key named (a section or a setting with a real default cannot be switched off by
``null``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import SettingsError
from .helm_yaml import load_helm_yaml
from .values import (
    nested_model,
    ARGUMENT_NAME_PATTERN,
    ROUTE_TIMEOUT_PATTERN,
    GATEWAY_PATTERN,
    HTTP_URL_PATTERN,
    IMAGE_DIGEST_PATTERN,
    IMAGE_REPOSITORY_PATTERN,
    IMAGE_TAG_PATTERN,
    MOUNT_PATH_PATTERN,
    NAME_OVERRIDE_PATTERN,
    OPTIONAL_LABEL_KEY_PATTERN,
    PROVIDER_PATTERN,
    SECRET_KEY_PATTERN,
    STORAGE_CLASS_PATTERN,
    TEMPLATE_PATTERN,
    YAML_TEXT_PATTERN,
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    ENV_NAME_PATTERN,
    LABEL_KEY_PATTERN,
    MODEL_PATTERN,
    LABEL_VALUE_PATTERN,
    NO_CONTROL_CHARS_PATTERN,
    QUANTITY_PATTERN,
    KeyedError,
    KeyedErrors,
    Values,
)

# Plain-words hints for the common patterns, so that a mismatch message shows the
# user what to write instead of showing the regular expression.
PATTERN_HINTS = {
    DNS_1035_LABEL_PATTERN: "use lowercase letters, digits and '-', starting with a letter and ending "
    "with a letter or digit (Service names must start with a letter)",
    MODEL_PATTERN: "use a Hugging Face model id or a path, without control characters, leading "
    "spaces or a leading '-'",
    DNS_LABEL_PATTERN: "use lowercase letters, digits and '-', starting and ending with a letter or digit",
    DNS_SUBDOMAIN_PATTERN: "use lowercase letters, digits, '-' and '.', each dot-separated part starting "
    "and ending with a letter or digit",
    LABEL_KEY_PATTERN: "use a label key such as 'example.com/team', made of letters, digits, '-', '_' "
    "and '.' after an optional DNS prefix and '/'",
    LABEL_VALUE_PATTERN: "use at most 63 letters, digits, '-', '_' and '.', starting and ending with "
    "a letter or digit",
    QUANTITY_PATTERN: "use a non-negative Kubernetes quantity such as '200Gi', '500m' or '4'",
    ENV_NAME_PATTERN: "use letters, digits, '_', '-' and '.', not starting with a digit",
    NO_CONTROL_CHARS_PATTERN: "remove the control characters such as newlines and tabs",
    YAML_TEXT_PATTERN: "remove the control characters other than tabs and line breaks",
    IMAGE_REPOSITORY_PATTERN: "use a repository such as 'hiyouga/llamafactory', lowercase, optionally "
    "after a registry host such as 'registry.example.com:5000/'",
    IMAGE_TAG_PATTERN: "use a tag of letters, digits, '_', '.' and '-' (at most 128), such as '0.9.4'",
    IMAGE_DIGEST_PATTERN: "use 'sha256:' followed by 64 lowercase hexadecimal digits, or leave it empty",
    TEMPLATE_PATTERN: "use a template name such as 'llama3' or 'qwen'",
    ARGUMENT_NAME_PATTERN: "use a lowercase argument name such as 'max_new_tokens', without the leading '--'",
    SECRET_KEY_PATTERN: "use a Secret key of letters, digits, '-', '_' and '.'",
    HTTP_URL_PATTERN: "use an http:// or https:// URL without spaces, or leave it empty",
    MOUNT_PATH_PATTERN: "use an absolute path without ':' or control characters, such as '/data'",
    GATEWAY_PATTERN: "use 'namespace/name' of an Istio Gateway, such as 'istio-system/ezaf-gateway'",
    ROUTE_TIMEOUT_PATTERN: "use a whole number of h, m, s or ms of at least 1ms, such as '30m' or '90s'; "
    "leave the key out for no timeout",
    PROVIDER_PATTERN: "use the name of an Istio extension provider, such as 'oauth2-proxy'",
    NAME_OVERRIDE_PATTERN: "use lowercase letters, digits and '-', starting with a letter, or leave it empty",
    STORAGE_CLASS_PATTERN: "use the name of a storage class (lowercase letters, digits, '-' and '.'), "
    "'-' for none, or leave it empty for the default class",
    OPTIONAL_LABEL_KEY_PATTERN: "use a taint key such as 'nvidia.com/gpu', or leave it empty with operator Exists",
}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], *, keep_nulls: bool = False) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base`` as Helm merges values files.

    Maps merge key by key, lists and scalars replace, and ``None`` removes a key that
    ``base`` has. A ``None`` for a key that ``base`` lacks stays, as in Helm, where
    the schema then refuses it (``podLabels: {team: null}``). With ``keep_nulls``,
    ``None`` always replaces the value, so that layered user files keep their nulls
    until they are checked against the model.
    """
    merged = dict(base)
    for key, value in override.items():
        if value is None and not keep_nulls and key in merged:
            merged.pop(key)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value, keep_nulls=keep_nulls)
        else:
            merged[key] = value
    return merged


def default_mapping() -> dict[str, Any]:
    """Return the defaults in their values-file form (camelCase keys)."""
    return Values().model_dump(by_alias=True)


def _field_for_alias(model: type[BaseModel], key: str) -> tuple[str, Any] | None:
    for name, field in model.model_fields.items():
        if key in (field.alias, name):
            return name, field
    return None



def _default_instance(model: type[BaseModel]) -> BaseModel | None:
    try:
        return model()
    except ValidationError:
        return None


def drop_nulls(raw: Mapping[str, Any], model: type[BaseModel] = Values, prefix: str = "") -> dict[str, Any]:
    """Remove ``null`` values whose default is empty; reject the other ones."""
    problems: list[str] = []
    cleaned = _drop_nulls(raw, model, _default_instance(model), prefix, problems)
    if problems:
        raise SettingsError(problems)
    return cleaned


def _drop_nulls(
    raw: Mapping[str, Any], model: type[BaseModel], defaults: BaseModel | None, prefix: str, problems: list[str]
) -> dict[str, Any]:
    # ``defaults`` is the section's default instance, whose values can differ from the
    # class defaults of ``model`` (persistence.output.size is 100Gi, ClaimValues.size 10Gi).
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        found = _field_for_alias(model, key) if isinstance(key, str) else None
        default = None
        if found is not None:
            name, field = found
            default = getattr(defaults, name) if defaults is not None else field.get_default(call_default_factory=True)
        if value is None:
            if found is None or default in (None, "", [], {}):
                continue
            shown = "settings of this section" if isinstance(default, BaseModel) else repr(default)
            problems.append(
                f"{path}: null is not allowed here, because it would remove the default "
                f"{shown}; delete the line to keep the default or set a value"
            )
            continue
        nested = nested_model(found[1].annotation) if found is not None else None
        if isinstance(value, Mapping) and nested is not None:
            nested_defaults = default if isinstance(default, BaseModel) else None
            cleaned[key] = _drop_nulls(value, nested, nested_defaults, f"{path}.", problems)
        else:
            cleaned[key] = value
    return cleaned


def _location(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "[key]") or str(part).startswith(
            ("function-", "constrained-")
        ):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(root)"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        return "unknown key; check its spelling against values.yaml (keys are camelCase)"
    if error["type"] == "literal_error":
        return f"{message}, got {error['input']!r}"
    if error["type"] == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(error.get("ctx", {}).get("pattern"), message)
        return f"invalid value {error['input']!r}: {hint}"
    if error["type"] in ("missing",):
        return "missing; set it"
    if "input" in error and not isinstance(error["input"], (dict, list)):
        return f"{message}, got {error['input']!r}"
    return message


# pydantic tags each alternative of a union of plain types with the type's name.
_UNION_TAGS = {
    "str": "a string",
    "constrained-str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
}


def _merge_union_errors(errors: list[Any]) -> list[Any]:
    """Fold the errors of one value against each alternative of a union of plain
    types (``api.extraArgs.x.str``, ``.int``, …) into one error on the value."""
    merged: list[Any] = []
    alternatives: dict[tuple[Any, ...], list[str]] = {}
    for item in errors:
        location = tuple(item["loc"])
        if location and location[-1] in _UNION_TAGS and item["type"].endswith("_type"):
            parent = location[:-1]
            if parent not in alternatives:
                alternatives[parent] = []
                merged.append({**item, "loc": parent, "type": "union_type", "alternatives": alternatives[parent]})
            alternatives[parent].append(_UNION_TAGS[location[-1]])
        else:
            merged.append(item)
    return merged


class _Hidden:
    def __repr__(self) -> str:
        return "(a secret, not shown)"


SECRET_FIELDS = {("huggingface", "token"), ("api", "apiKey")}
"""Keys whose values never appear in a message: an error message can end up in a CI
log."""


def format_validation_error(error: ValidationError) -> list[str]:
    """Turn a pydantic error into one line per problem, each naming the full key path.

    The value of a secret key is never repeated in its message.
    """
    lines = []
    for item in _merge_union_errors(error.errors()):
        if tuple(item["loc"][-2:]) in SECRET_FIELDS and "input" in item:
            item = {**item, "input": _Hidden()}
        location = _location(item["loc"])
        cause = item.get("ctx", {}).get("error")
        causes = cause.errors if isinstance(cause, KeyedErrors) else [cause]
        if all(isinstance(problem, KeyedError) for problem in causes):
            for problem in causes:
                key = problem.key if location == "(root)" else f"{location}.{problem.key}"
                lines.append(f"{key}: {problem.message_at(location)}")
        elif item["type"] == "union_type":
            expected = ", ".join(item["alternatives"][:-1]) + f" or {item['alternatives'][-1]}"
            lines.append(f"{location}: expected {expected}, got {item['input']!r}")
        else:
            lines.append(f"{location}: {_message(item)}")
    return lines


def values_from_mapping(raw: Mapping[str, Any] | None, source: str | None = None) -> Values:
    """Validate settings layered over the defaults into :class:`Values`.

    The settings are merged into the defaults first, as Helm does, so a partial
    section such as ``persistence: {output: {storageClass: fast}}`` keeps the other
    defaults of that section (``size: 100Gi``, ``mountPath: /app/output``).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SettingsError([f"(root): expected a mapping of settings, got {type(raw).__name__}"], source)
    try:
        drop_nulls(raw)
    except SettingsError as error:
        raise SettingsError(error.problems, source) from None
    try:
        return Values.model_validate(deep_merge(default_mapping(), raw))
    except ValidationError as error:
        raise SettingsError(format_validation_error(error), source) from None


def read_values_file(path: Path) -> dict[str, Any]:
    """Read one YAML values file; an empty file is an empty mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError([f"cannot read the file: {error.strerror}"], str(path)) from error
    except UnicodeDecodeError as error:
        raise SettingsError([f"not UTF-8 text (byte {error.start}); save the file as UTF-8"], str(path)) from error
    try:
        data = load_helm_yaml(text)
    except yaml.YAMLError as error:
        raise SettingsError([f"not valid YAML: {error}"], str(path)) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError([f"(root): expected a mapping of settings, got {type(data).__name__}"], str(path))
    return data


def load_values(paths: Iterable[str | Path] = (), overrides: Mapping[str, Any] | None = None) -> Values:
    """Load :class:`Values` from zero or more YAML files layered over the defaults."""
    merged: dict[str, Any] = {}
    names = []
    # Files are layered without the defaults first, so that a null in a later file
    # is still seen (and checked) when the result is merged over the defaults.
    for path in paths:
        merged = deep_merge(merged, read_values_file(Path(path)), keep_nulls=True)
        names.append(str(path))
    if overrides:
        merged = deep_merge(merged, overrides, keep_nulls=True)
    return values_from_mapping(merged, ", ".join(names) or None)
