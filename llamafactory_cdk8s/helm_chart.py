"""Write the Helm chart ``llamafactory`` and package it as a reproducible archive.

The chart directory has ``Chart.yaml``, the generated ``values.yaml`` and
``values.schema.json`` (:mod:`.helm_values`), the generated templates
(:mod:`.helm_templates`), and two hand-written files copied from ``chart_files/``:
``_helpers.tpl`` (names, labels, derived settings, checks) and ``NOTES.txt``. The
archive is what ``helm package`` would write, byte for byte the same on every run:
sorted entries, fixed owners, modes and times, and a gzip header without a time.
"""

from __future__ import annotations

import gzip
import io
import logging
import shutil
import tarfile
from importlib import resources
from pathlib import Path

import yaml

from . import helm_templates, helm_values
from .logo import render_logo_png
from .values import (
    APP_VERSION,
    CHART_NAME,
    DEFAULT_STARTUP_FAILURES,
    GPU_RESOURCE,
    NON_ROOT_HF_CACHE,
    ROOT_HF_CACHE,
    STARTUP_BUDGET_FLOOR_SECONDS,
    WORKING_DIR,
    ImageValues,
)
from .workload import EZUA_TYPE, PROBE_PATHS, ROLLOUT_MARGIN_SECONDS

logger = logging.getLogger(__name__)

CHART_VERSION = "0.1.0"

CHART_METADATA = {
    "apiVersion": "v2",
    "name": CHART_NAME,
    "description": (
        "LLaMA Factory (LLaMA Board web UI or OpenAI-compatible API) for LLM fine-tuning "
        "on HPE Private Cloud AI and any Kubernetes"
    ),
    "type": "application",
    "version": CHART_VERSION,
    "appVersion": APP_VERSION,
    "kubeVersion": ">=1.27.0-0",
    "keywords": ["llm", "fine-tuning", "llama-factory", "lora", "gpu", "pcai", "ezua"],
    "home": "https://github.com/hiyouga/LLaMA-Factory",
    "sources": ["https://github.com/hiyouga/LLaMA-Factory", "https://hub.docker.com/r/hiyouga/llamafactory"],
    "annotations": {"category": "Data Science"},
}

HELMIGNORE = "# Files Helm leaves out of the package.\n.DS_Store\n*.swp\n*.bak\n*.tmp\n*~\n"

ARCHIVE_TIME = 0
"""Modification time of every archive entry (the epoch): the archive must not depend
on when it was built."""


def helper_constants() -> dict[str, str]:
    """Return the Python constants that ``_helpers.tpl`` refers to as ``@NAME@``."""
    return {
        "EZUA_TYPE": EZUA_TYPE,
        "DEFAULT_TAG": ImageValues.model_fields["tag"].default,
        "WEBUI_PROBE_PATH": PROBE_PATHS["webui"],
        "API_PROBE_PATH": PROBE_PATHS["api"],
        "WEBUI_STARTUP_FAILURES": str(DEFAULT_STARTUP_FAILURES["webui"]),
        "API_STARTUP_FAILURES": str(DEFAULT_STARTUP_FAILURES["api"]),
        "STARTUP_FLOOR": str(STARTUP_BUDGET_FLOOR_SECONDS),
        "ROLLOUT_MARGIN": str(ROLLOUT_MARGIN_SECONDS),
        "NON_ROOT_HF_CACHE": NON_ROOT_HF_CACHE,
        "ROOT_HF_CACHE": ROOT_HF_CACHE,
        "GPU": GPU_RESOURCE,
        "WORKING_DIR": WORKING_DIR,
    }


def _chart_file(name: str) -> str:
    return resources.files(__package__).joinpath("chart_files", name).read_text(encoding="utf-8")


def render_helpers() -> str:
    """Return ``_helpers.tpl`` with its constants filled in; fail on an unknown one."""
    text = _chart_file("_helpers.tpl")
    for name, value in helper_constants().items():
        text = text.replace(f"@{name}@", value)
    leftover = sorted({word for word in text.split("@")[1::2] if word.isupper() and " " not in word})
    if leftover:
        raise ValueError(f"_helpers.tpl names constants that helper_constants() lacks: {leftover}")
    return text


def chart_files() -> dict[str, str]:
    """Return every file of the chart by its path inside the chart directory."""
    files = {
        "Chart.yaml": yaml.safe_dump(CHART_METADATA, sort_keys=False, width=100),
        ".helmignore": HELMIGNORE,
        "values.yaml": helm_values.render_values_yaml(),
        "values.schema.json": helm_values.render_values_schema_json(),
        "templates/_helpers.tpl": render_helpers(),
        "templates/NOTES.txt": _chart_file("NOTES.txt"),
    }
    for path, text in helm_templates.render_templates().items():
        files[f"templates/{path}"] = text
    return files


def write_chart(outdir: str | Path) -> Path:
    """Write the chart into ``<outdir>/llamafactory`` (replacing it) and return its path."""
    directory = Path(outdir) / CHART_NAME
    if directory.exists():
        shutil.rmtree(directory)
    for path, text in chart_files().items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    logger.info("wrote the chart %s", directory)
    return directory


LOGO_NAME = f"{CHART_NAME}-logo.png"


def write_release_files(outdir: str | Path) -> list[Path]:
    """Write the chart, its archive and the logo for PCAI's import form into ``outdir``."""
    chart_dir = write_chart(outdir)
    archive = package_chart(chart_dir, outdir)
    logo = Path(outdir) / LOGO_NAME
    logo.write_bytes(render_logo_png())
    logger.info("wrote %s", logo)
    return [chart_dir, archive, logo]


def package_chart(chart_dir: str | Path, outdir: str | Path) -> Path:
    """Archive ``chart_dir`` as ``<outdir>/<name>-<version>.tgz``, reproducibly."""
    chart_dir = Path(chart_dir)
    metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    archive = Path(outdir) / f"{metadata['name']}-{metadata['version']}.tgz"

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in chart_dir.rglob("*") if p.is_file()):
            name = f"{metadata['name']}/{path.relative_to(chart_dir).as_posix()}"
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = ARCHIVE_TIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with open(archive, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=ARCHIVE_TIME
    ) as compressed:
        compressed.write(buffer.getvalue())
    logger.info("wrote %s", archive)
    return archive
