"""Plain Kubernetes manifests: synthesize one release into ``<outdir>/<chart>.k8s.yaml``."""

from __future__ import annotations

import logging
from pathlib import Path

import cdk8s

from .chart import LlamaFactoryChart
from .values import CHART_NAME, Values

logger = logging.getLogger(__name__)


def build_app(values: Values, outdir: str | Path) -> tuple[cdk8s.App, LlamaFactoryChart]:
    """Create a cdk8s app holding the release's chart, writing one file per chart."""
    app = cdk8s.App(outdir=str(outdir), yaml_output_type=cdk8s.YamlOutputType.FILE_PER_CHART)
    chart = LlamaFactoryChart(app, CHART_NAME, values=values)
    return app, chart


def synth_manifests(values: Values, outdir: str | Path) -> Path:
    """Write the release's manifests and return the file's path."""
    app, _ = build_app(values, outdir)
    app.synth()
    path = Path(outdir) / f"{CHART_NAME}.k8s.yaml"
    logger.info("wrote %s", path)
    return path
