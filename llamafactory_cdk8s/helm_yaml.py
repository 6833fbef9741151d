"""Read a values file with the scalar rules Helm uses, so both sides see the same values.

PyYAML follows YAML 1.1 as Python reads it; Helm reads values files with Go's YAML
library and then through JSON. The two disagree on plain scalars: for Helm, ``y`` and
``n`` are booleans, ``0o17`` and ``1e3`` are numbers, and ``1:30`` and ``2024-01-01``
are strings. Helm also keeps every number as a 64-bit float, so ``1.0`` and ``1`` are
the same number and whole numbers beyond 2^53 lose their last digits.

:class:`HelmValuesLoader` resolves plain scalars as Helm does and gives every number
the value Helm ends up with: a whole number as an ``int``, any other as a ``float``.
The tests compare it with the real ``helm`` binary on a list of spellings.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

_BOOLEANS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_BOOLEAN_PATTERN = re.compile("^(?:" + "|".join(_BOOLEANS) + ")$")
_NULL_PATTERN = re.compile(r"^(?:~|null|Null|NULL|)$")
_INTEGER_PATTERN = re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT_PATTERN = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT_PATTERN = re.compile(r"^[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)$")

_NUMBER_TAG = "tag:helm.sh,values:number"
_SPECIAL_FLOAT_TAG = "tag:helm.sh,values:special-float"


class HelmValuesLoader(yaml.SafeLoader):
    """A SafeLoader whose plain scalars resolve as in Helm's values files."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _add(tag: str, pattern: re.Pattern[str], first: str | None) -> None:
    HelmValuesLoader.add_implicit_resolver(tag, pattern, list(first) if first is not None else None)


_add("tag:yaml.org,2002:bool", _BOOLEAN_PATTERN, "yYnNtTfFoO")
_add("tag:yaml.org,2002:null", _NULL_PATTERN, None)
_add(_SPECIAL_FLOAT_TAG, _SPECIAL_FLOAT_PATTERN, "+-.")
_add(_NUMBER_TAG, _INTEGER_PATTERN, "+-0123456789")
_add(_NUMBER_TAG, _FLOAT_PATTERN, "+-.0123456789")
# Merge keys (<<) still merge; as a value, "<<" is a string, as is "=".
_add("tag:yaml.org,2002:merge", re.compile(r"^<<$"), "<")


def _construct_boolean(loader: HelmValuesLoader, node: yaml.ScalarNode) -> bool:
    return _BOOLEANS[loader.construct_scalar(node)]


def _parse_integer(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").replace("_", "")
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if digits.startswith(prefix):
            return sign * int(digits[2:] or "0", base)
    if len(digits) > 1 and digits.startswith("0") and set(digits) <= set("01234567"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _construct_number(loader: HelmValuesLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    number = float(_parse_integer(text)) if _INTEGER_PATTERN.match(text) else float(text.replace("_", ""))
    if not math.isfinite(number):
        return text  # Go's YAML library keeps an out-of-range number as a string
    return int(number) if number.is_integer() else number


def _special_float_error(loader: HelmValuesLoader, node: yaml.ScalarNode) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"{loader.construct_scalar(node)!r} cannot be passed to Helm, which writes values as JSON; "
        "write a number or quote the text", node.start_mark
    )


def _construct_merge_as_text(loader: HelmValuesLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


HelmValuesLoader.add_constructor("tag:yaml.org,2002:bool", _construct_boolean)
HelmValuesLoader.add_constructor(_NUMBER_TAG, _construct_number)
HelmValuesLoader.add_constructor(_SPECIAL_FLOAT_TAG, _special_float_error)
HelmValuesLoader.add_constructor("tag:yaml.org,2002:merge", _construct_merge_as_text)


def _key_text(key: Any) -> Any:
    """Write a map key as text, as Helm's conversion to JSON does (``on:`` is "true")."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return str(key)
    return key


def _keys_as_text(data: Any) -> Any:
    if isinstance(data, dict):
        return {_key_text(key): _keys_as_text(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_keys_as_text(item) for item in data]
    return data


def load_helm_yaml(text: str) -> Any:
    """Parse one YAML document as Helm parses a values file."""
    return _keys_as_text(yaml.load(text, Loader=HelmValuesLoader))  # noqa: S506 (a SafeLoader subclass)
