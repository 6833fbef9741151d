"""Exceptions raised by llamafactory-cdk8s.

Hierarchy::

    LlamaFactoryError
    ├── SettingsError      a values file or settings object is invalid
    └── ConstructError     construct props contradict each other

Every message names the key or prop, the value that was given and the fix.
"""

from __future__ import annotations


class LlamaFactoryError(Exception):
    """Base class of every error this package raises on purpose."""


class SettingsError(LlamaFactoryError):
    """Invalid settings: each line of the message names one key path and its fix."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid settings{where}:\n{lines}")


class ConstructError(LlamaFactoryError):
    """Construct props that cannot produce a working object."""
