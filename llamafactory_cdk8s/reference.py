"""The settings reference, generated from the values model.

Walks :class:`~llamafactory_cdk8s.values.Values` and lists every leaf key with its
description and default. The README's parameter table is written from it, and a
test fails when the table is stale. Run ``python -m llamafactory_cdk8s.reference
--write README.md`` to regenerate the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .values import Values

START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"


@dataclass(frozen=True)
class Parameter:
    """One leaf setting: its dotted camelCase key, description and default."""

    key: str
    description: str
    default: Any


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def parameters(model: type[BaseModel] = Values, prefix: str = "", instance: BaseModel | None = None) -> list[Parameter]:
    """Return every leaf setting of ``model`` in declaration order."""
    instance = instance if instance is not None else model()
    found: list[Parameter] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        value = getattr(instance, name)
        section = _section_model(field.annotation)
        if section is not None:
            found.extend(parameters(section, f"{key}.", value))
            continue
        description = " ".join((field.description or "").split())
        default = value.model_dump(by_alias=True, exclude_none=True) if isinstance(value, BaseModel) else value
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            default = [item.model_dump(by_alias=True, exclude_none=True) for item in value]
        found.append(Parameter(key, description, default))
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table() -> str:
    """Return the Markdown parameter table."""
    lines = ["| key | description | default |", "| --- | --- | --- |"]
    for parameter in parameters():
        default = json.dumps(parameter.default, sort_keys=True, ensure_ascii=False)
        lines.append(f"| `{parameter.key}` | {_cell(parameter.description)} | `{_cell(default)}` |")
    return "\n".join(lines) + "\n"


def replace_table(text: str) -> str:
    """Return ``text`` with the table between the parameter markers regenerated."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), flags=re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"the markers {START} and {END} are missing; add them where the table belongs")
    return pattern.sub(lambda _: f"{START}\n{render_table()}{END}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or update the settings reference table.")
    parser.add_argument("--write", metavar="FILE", help="replace the table between the markers in FILE")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(render_table())
        return 0
    path = Path(args.write)
    path.write_text(replace_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"reference: updated the parameter table in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
