"""Synthesize LLaMA Factory's manifests, Helm chart and chart archive into dist/.

Usage:
    python app.py [-f VALUES.yaml ...] [--outdir DIR]

Writes <DIR>/llamafactory.k8s.yaml (the plain manifests of one release), the chart
<DIR>/llamafactory/, its archive <DIR>/llamafactory-0.1.0.tgz and the logo for PCAI's
import form. Values files shape the plain manifests only: the chart is the same for
every release, and takes its values at install time. Values files are layered over
the defaults in order; LLAMAFACTORY_VALUES may name more
files, separated by the platform's path separator (":" on Linux), which come before
those given with -f. `cdk8s synth` runs this file too (see cdk8s.yaml) and passes its
output directory in CDK8S_OUTDIR. Progress and errors go to stderr; the exit status is
non-zero on any error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import llamafactory_cdk8s  # sets JSII_NODE before cdk8s starts  # noqa: F401
from llamafactory_cdk8s.errors import LlamaFactoryError
from llamafactory_cdk8s.loading import load_values
from llamafactory_cdk8s.helm_chart import write_release_files
from llamafactory_cdk8s.manifests import synth_manifests

logger = logging.getLogger("llamafactory-cdk8s")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Synthesize LLaMA Factory's Kubernetes manifests and Helm chart.")
    parser.add_argument(
        "-f",
        "--values",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML values file layered over the defaults; repeat for more (later files win)",
    )
    parser.add_argument(
        "--outdir",
        default=os.environ.get("CDK8S_OUTDIR", "dist"),
        help="output directory (default: $CDK8S_OUTDIR or dist)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s: %(message)s", stream=sys.stderr)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from_env = [path for path in os.environ.get("LLAMAFACTORY_VALUES", "").split(os.pathsep) if path]
    files = from_env + args.values

    try:
        if files:
            logger.info("loading values from %s", ", ".join(files))
        values = load_values(files)
        path = synth_manifests(values, args.outdir)
        write_release_files(args.outdir)
    except LlamaFactoryError as error:
        logger.error("%s", error)
        return 1
    except (OSError, RuntimeError) as error:
        # jsii reports a failed write in the Node.js process as a RuntimeError.
        logger.error("cannot write to %s: %s", args.outdir, error)
        return 1
    logger.info("done: %s and the chart beside it", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
