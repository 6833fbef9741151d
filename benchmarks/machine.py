"""Machine facts and command helpers shared by the benchmark scripts in this folder.

The scripts run as ``python benchmarks/SCRIPT.py``, so Python puts this folder on
``sys.path`` and they import this module by its plain name.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
from pathlib import Path


class BenchmarkError(Exception):
    """A missing tool or input, a failed command, or a measurement that could not finish."""


def run_checked(
    command: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float | None = None
) -> str:
    """Run ``command`` and return its stdout; raise BenchmarkError on a non-zero exit status."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchmarkError(
            f"command failed with exit status {result.returncode}: {shlex.join(command)}\n{result.stderr.strip()}"
        )
    return result.stdout


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or what ``platform`` reports elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """Return the number of CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_gib() -> str:
    """Return the machine's memory from /proc/meminfo in GiB, or "unknown"."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    """Return the 1-minute load average, or "unknown" where the OS does not report it."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return f"{os.getloadavg()[0]:.2f}"
