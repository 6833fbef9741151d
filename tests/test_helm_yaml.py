"""Values files read by app.py must give the values Helm reads from the same file."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import require_tool
from llamafactory_cdk8s.errors import SettingsError
from llamafactory_cdk8s.helm_yaml import load_helm_yaml
from llamafactory_cdk8s.loading import load_values

# Plain scalars on which PyYAML's YAML 1.1 rules and Helm's disagree, and some on
# which they agree, as a control.
SPELLINGS = [
    "y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False", "tRUE",
    "~", "null", "NULL", "",
    "1:30", "12:30:00", "2024-01-01", "2001-12-14t21:59:43.10-05:00",
    "0o17", "017", "08", "00", "0777", "0x1F", "0b101", "1_000", "0x_1F", "+12", "-0",
    "1e3", "1E3", "1e+3", "1.0", "1.", ".5", "+.5", "-.5", "-1.5e-3", "1.10", "12e", "1e400",
    "9007199254740993", "123456789012345678901234567890",
    "0.9.5", "=", "<<", "v1", "a b",
]


@pytest.fixture(scope="module")
def helm_reads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every spelling as Helm reads it, from one values file through a chart that prints .Values."""
    require_tool("helm")
    root = tmp_path_factory.mktemp("values-probe")
    chart = root / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n", encoding="utf-8")
    (chart / "templates" / "values.yaml").write_text("values: {{ toJson .Values | quote }}\n", encoding="utf-8")
    values = root / "values.yaml"
    values.write_text("".join(f"k{index}: {text}\n" for index, text in enumerate(SPELLINGS)), encoding="utf-8")
    result = subprocess.run(
        ["helm", "template", "probe", str(chart), "-f", str(values)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(yaml.safe_load(result.stdout.split("---", 1)[1])["values"])


def _same(ours: object, helms: object) -> bool:
    if isinstance(helms, (int, float)) and not isinstance(helms, bool):
        return isinstance(ours, (int, float)) and not isinstance(ours, bool) and math.isclose(ours, helms, rel_tol=0)
    return type(ours) is type(helms) and ours == helms


@pytest.mark.parametrize("index", range(len(SPELLINGS)), ids=[repr(text) for text in SPELLINGS])
def test_scalar_matches_helm(helm_reads: dict[str, object], index: int) -> None:
    ours = load_helm_yaml(f"k: {SPELLINGS[index]}\n")["k"]

    assert _same(ours, helm_reads.get(f"k{index}")), (SPELLINGS[index], ours, helm_reads.get(f"k{index}"))


def test_whole_numbers_are_integers() -> None:
    loaded = load_helm_yaml("a: 1.0\nb: 1e3\nc: 0.5\n")

    assert loaded == {"a": 1, "b": 1000, "c": 0.5}
    assert isinstance(loaded["a"], int)


def test_keys_become_text_as_in_json() -> None:
    # helm template reads this file as {"podLabels": {"2": true, "true": "x"}}.
    assert load_helm_yaml("podLabels:\n  on: x\n  2: yes\n") == {"podLabels": {"true": "x", "2": True}}


def test_merge_keys_still_merge() -> None:
    assert load_helm_yaml("a: &base {b: 1}\nc:\n  <<: *base\n  d: 2\n")["c"] == {"b": 1, "d": 2}


def test_infinity_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("shmSizeGi: .inf\n", encoding="utf-8")

    with pytest.raises(SettingsError, match="cannot be passed to Helm"):
        load_values([path])


def test_app_reads_a_sexagesimal_tag_as_text(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("image:\n  tag: 1:30\n", encoding="utf-8")

    with pytest.raises(SettingsError, match="image.tag"):
        load_values([path])  # "1:30" is not a valid tag; PyYAML would have read 90
