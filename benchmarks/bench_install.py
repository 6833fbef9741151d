"""Time ``helm install`` until the workload pod is Running, for our chart and a bare Deployment.

Both charts are installed on one test cluster (tests/kube_cluster.py: kube-apiserver,
kube-controller-manager and kube-scheduler 1.33 with kwok nodes), which the script
starts and stops itself:

1. our chart, by default ``dist/llamafactory-0.1.0.tgz`` with its default values: four
   claims on the default storage class, which binds on first consumer, a GPU pod, a
   Service, a NetworkPolicy and the Istio objects;
2. ``benchmarks/bare-deployment``: one Deployment with no claims, whose pod requests
   the same image, resources and toleration, so it is scheduled the same way.

Each run installs one chart into a fresh namespace under a release name of its own,
then uninstalls it and deletes the namespace, outside the timed part. The two charts
alternate, after one untimed run of each. The clock starts just before ``helm install``
(without ``--wait``) and stops when a watch on the namespace's pods, opened through
the API server before the install, delivers the first event with
``status.phase: Running``. The same watch, and one on the claims, time the steps in
between. The report on stdout gives the machine, the exact commands, the median, the
fastest and the slowest run of each chart, and the ratio of the medians. Progress
goes to stderr.

Usage:
    scripts/with-tools.sh .venv/bin/python benchmarks/bench_install.py [--runs 5] [--chart ARCHIVE]

The cluster and Helm's state live in a temporary directory, which the script removes
at the end, so the repository stays as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import shlex
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from machine import BenchmarkError, cpu_model, load_average, memory_gib, run_checked, usable_cpus

ROOT = Path(__file__).resolve().parent.parent
# The test cluster is a test fixture first; importing it from tests/ keeps one copy.
sys.path.insert(0, str(ROOT / "tests"))

from kube_cluster import HELM, KUBECTL, PROGRAMS, ClusterError, LocalCluster  # noqa: E402

DEFAULT_CHART = ROOT / "dist" / "llamafactory-0.1.0.tgz"
BARE_CHART = ROOT / "benchmarks" / "bare-deployment"
RUNNING_TARGET = 1.2
INSTANCE_LABEL = "app.kubernetes.io/instance"
PROG = "bench_install.py"


# -- the API server, read directly so that no polling process competes for the CPUs --


@dataclass
class ApiServer:
    """The test cluster's API server, with the address and credentials of its kubeconfig."""

    host: str
    port: int
    context: ssl.SSLContext

    @classmethod
    def from_kubeconfig(cls, path: Path) -> ApiServer:
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        address = urllib.parse.urlsplit(cluster["server"])
        context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        context.load_cert_chain(user["client-certificate"], user["client-key"])
        return cls(address.hostname, address.port, context)

    def connect(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def get_json(self, path: str, timeout: float = 30) -> dict[str, Any]:
        connection = self.connect(timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise BenchmarkError(f"GET {path} failed with HTTP {response.status}: {body[:300]!r}")
        return json.loads(body)


class Watch:
    """A watch on one collection, read by a thread that passes each object and its arrival time to a handler.

    The collection is listed first and watched from the list's resourceVersion, so the
    watch delivers every change made after the list, including changes made before
    the stream was open.
    """

    def __init__(
        self,
        api: ApiServer,
        collection: str,
        handle: Callable[[str, dict[str, Any], float], None],
        timeout: float,
        label_selector: str = "",
    ) -> None:
        query = {"labelSelector": label_selector} if label_selector else {}
        listing = api.get_json(f"{collection}?{urllib.parse.urlencode(query)}")
        query |= {
            "watch": "1",
            "resourceVersion": listing["metadata"]["resourceVersion"],
            "timeoutSeconds": str(int(timeout)),
        }
        self.path = f"{collection}?{urllib.parse.urlencode(query)}"
        self.handle = handle
        self.error: str | None = None
        self.stopping = False
        self.connection = api.connect(timeout)
        self.connection.request("GET", self.path)
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise BenchmarkError(f"watch {self.path} failed with HTTP {self.response.status}")
        self.thread = threading.Thread(target=self._read, name=f"watch {collection}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response:
                arrived = time.perf_counter()
                event = json.loads(line)
                if event["type"] == "ERROR":
                    self.error = event["object"].get("message", str(event["object"]))
                    return
                self.handle(event["type"], event["object"], arrived)
        except (OSError, ValueError, http.client.HTTPException) as error:
            # stop() shuts the socket down, which ends the read with an error or at EOF.
            if not self.stopping:
                self.error = f"{type(error).__name__}: {error}"

    def stop(self) -> None:
        self.stopping = True
        if self.connection.sock is not None:
            try:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=10)
        self.connection.close()


# -- one install ---------------------------------------------------------------


@dataclass
class Subject:
    """A chart under test: the short name used in release and namespace names, and its path."""

    key: str
    label: str
    chart: Path
    claims: int = 0
    # ``--set`` arguments, which `helm template` also takes, then any other install arguments.
    set_args: list[str] = field(default_factory=list)
    install_args: list[str] = field(default_factory=list)


@dataclass
class Milestones:
    """Seconds after ``helm install`` started at which each step was first seen."""

    helm_returned: float | None = None
    pod_created: float | None = None
    claims_bound: dict[str, float] = field(default_factory=dict)
    pod_scheduled: float | None = None
    pod_running: float | None = None
    node: str = ""


@dataclass
class Run:
    subject: Subject
    release: str
    namespace: str
    command: list[str]
    milestones: Milestones


class InstallTimer:
    """Install a chart into a fresh namespace and time each step until the pod is Running."""

    def __init__(self, cluster: LocalCluster, api: ApiServer, env: dict[str, str], timeout: float) -> None:
        self.cluster = cluster
        self.api = api
        self.env = env
        self.timeout = timeout

    def run(self, subject: Subject, index: int) -> Run:
        release = f"{subject.key}-{index}"
        namespace = f"bench-{release}"
        self._create_namespace(namespace)
        try:
            return self._install(subject, release, namespace)
        finally:
            self._remove(release, namespace)

    def _create_namespace(self, namespace: str) -> None:
        self.cluster.kubectl("create", "namespace", namespace)
        # Pods are rejected until the ServiceAccount controller has created "default".
        # An operator's namespace has it long before the install, so it is not timed.
        self.cluster.wait_for(
            f"the default ServiceAccount in {namespace}",
            lambda: self.cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode
            == 0,
        )

    def _install(self, subject: Subject, release: str, namespace: str) -> Run:
        milestones = Milestones()
        running = threading.Event()
        start = 0.0

        def on_pod(kind: str, pod: dict[str, Any], arrived: float) -> None:
            if kind == "DELETED":
                return
            if milestones.pod_created is None:
                milestones.pod_created = arrived - start
            if pod["spec"].get("nodeName") and milestones.pod_scheduled is None:
                milestones.pod_scheduled = arrived - start
                milestones.node = pod["spec"]["nodeName"]
            if pod.get("status", {}).get("phase") == "Running" and milestones.pod_running is None:
                milestones.pod_running = arrived - start
                running.set()

        def on_claim(kind: str, claim: dict[str, Any], arrived: float) -> None:
            name = claim["metadata"]["name"]
            if claim.get("status", {}).get("phase") == "Bound" and name not in milestones.claims_bound:
                milestones.claims_bound[name] = arrived - start

        base = f"/api/v1/namespaces/{namespace}"
        watches = [
            Watch(self.api, f"{base}/pods", on_pod, self.timeout, label_selector=f"{INSTANCE_LABEL}={release}"),
            Watch(self.api, f"{base}/persistentvolumeclaims", on_claim, self.timeout),
        ]
        command = [str(HELM), "install", release, str(subject.chart), "-n", namespace, *subject.set_args, *subject.install_args]
        try:
            start = time.perf_counter()
            result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=self.timeout)
            milestones.helm_returned = time.perf_counter() - start
            if result.returncode != 0:
                raise BenchmarkError(
                    f"command failed with exit status {result.returncode}: {shlex.join(command)}\n"
                    f"{result.stderr.strip()}"
                )
            remaining = max(0.0, self.timeout - (time.perf_counter() - start))
            if not running.wait(remaining):
                errors = "; ".join(f"{watch.path}: {watch.error}" for watch in watches if watch.error)
                raise BenchmarkError(
                    f"timed out after {self.timeout:.0f}s waiting for the pod of release {release} in {namespace} "
                    f"to be Running (seen: {milestones}){'; watch errors: ' + errors if errors else ''}\n"
                    f"{self._describe_pods(namespace)}"
                )
        finally:
            for watch in watches:
                watch.stop()
        return Run(subject, release, namespace, command, milestones)

    def _describe_pods(self, namespace: str) -> str:
        result = self.cluster.kubectl("describe", "pods,pvc", "-n", namespace, check=False)
        return result.stdout.strip() or result.stderr.strip()

    def _remove(self, release: str, namespace: str) -> None:
        """Uninstall, then delete the namespace and wait, so the next run starts on a quiet cluster.

        The claims are kept by ``helm.sh/resource-policy: keep`` and go with the
        namespace. Their volumes stay Released, so every run binds new ones.
        """
        self.cluster.helm("uninstall", release, "-n", namespace, check=False)
        self.cluster.kubectl(
            "delete", "namespace", namespace, "--wait=true", f"--timeout={int(self.timeout)}s", timeout=self.timeout + 30
        )


# -- report --------------------------------------------------------------------


def describe_machine(cluster: LocalCluster, env: dict[str, str]) -> list[str]:
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    kwok = run_checked([str(PROGRAMS / "kwok"), "--version"], env, timeout=60).strip()
    helm = run_checked([str(HELM), "version", "--short"], env, timeout=60).strip()
    return [
        f"cpu: {cpu_model()}, {os.cpu_count()} logical CPUs, {usable_cpus()} usable by this process",
        f"memory: {memory_gib()}",
        f"os: {platform.platform()}",
        f"kubernetes: {server} (kube-apiserver, kube-controller-manager, kube-scheduler); {kwok}",
        f"helm: {helm} ({HELM})",
    ]


def sha256(path: Path) -> str:
    if path.is_dir():
        return "a directory"
    return "sha256 " + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   fastest {min(values):6.2f} s   slowest {max(values):6.2f} s"


def median_or_dash(values: list[float | None]) -> str:
    present = [value for value in values if value is not None]
    if not present:
        return "-"
    return f"{statistics.median(present):.2f}"


def ratio_line(label: str, ours: list[float], bare: list[float], target: float | None = None) -> str:
    ratio = statistics.median(ours) / statistics.median(bare)
    line = f"ratio {label}: {ratio:.2f}x median"
    if target is not None:
        verdict = "met" if ratio <= target else "missed"
        line += f" (target <= {target:.2f}x: {verdict})"
    return line


def report(runs: list[Run], ours: Subject, bare: Subject) -> list[str]:
    by_subject = {subject.key: [run for run in runs if run.subject is subject] for subject in (ours, bare)}
    running = {key: [run.milestones.pod_running for run in items] for key, items in by_subject.items()}
    helm = {key: [run.milestones.helm_returned for run in items] for key, items in by_subject.items()}
    lines = ["helm install until the pod is Running:"]
    for subject in (ours, bare):
        example = by_subject[subject.key][0].command
        lines.append(f"  {subject.label:<11} {spread(running[subject.key])}   $ {shlex.join(example)}")
    lines.append(ratio_line("our chart / bare chart", running[ours.key], running[bare.key], RUNNING_TARGET))
    lines += ["", "helm install returns (without --wait):"]
    for subject in (ours, bare):
        lines.append(f"  {subject.label:<11} {spread(helm[subject.key])}")
    lines.append(ratio_line("our chart / bare chart", helm[ours.key], helm[bare.key]))

    lines += ["", "steps, median seconds after helm install starts:", f"  {'step':<30} {ours.label:>11} {bare.label:>11}"]
    steps: list[tuple[str, Callable[[Milestones], float | None]]] = [
        ("helm install returns", lambda m: m.helm_returned),
        ("pod created", lambda m: m.pod_created),
        ("first claim Bound", lambda m: min(m.claims_bound.values(), default=None)),
        ("last claim Bound", lambda m: max(m.claims_bound.values(), default=None)),
        ("pod bound to a node", lambda m: m.pod_scheduled),
        ("pod Running", lambda m: m.pod_running),
    ]
    for name, pick in steps:
        cells = [median_or_dash([pick(run.milestones) for run in by_subject[key]]) for key in (ours.key, bare.key)]
        lines.append(f"  {name:<30} {cells[0]:>11} {cells[1]:>11}")
    return lines


def progress(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def format_run(run: Run) -> str:
    m = run.milestones
    claims = f", last claim Bound {max(m.claims_bound.values()):.2f}" if m.claims_bound else ""
    return (
        f"{run.subject.label} ({run.release}): helm returned {m.helm_returned:.2f} s, pod created {m.pod_created:.2f}"
        f"{claims}, bound to {m.node} {m.pod_scheduled:.2f}, Running {m.pod_running:.2f}"
    )


# -- main ----------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="timed installs of each chart, after one untimed install (default: 5)"
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=DEFAULT_CHART,
        help="our chart: an archive or a directory (default: dist/llamafactory-0.1.0.tgz; relative paths start "
        "at the repository root)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value for our chart only, passed to `helm install --set`; repeat for more",
    )
    parser.add_argument(
        "--helm-arg",
        dest="helm_args",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for both `helm install` commands, for example "
        "--helm-arg=--disable-openapi-validation; repeat for more",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds one install may take until the pod is Running before the benchmark fails (default: 120)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: must be at least 1")
    if args.timeout <= 0:
        parser.error(f"--timeout {args.timeout}: must be positive")
    args.chart = ROOT / args.chart
    return args


def count_claims(subject: Subject, env: dict[str, str]) -> int:
    """Render the subject's chart as it will be installed and count its PersistentVolumeClaims."""
    rendered = run_checked([str(HELM), "template", "probe", str(subject.chart), *subject.set_args], env, timeout=60)
    return sum(
        1 for document in yaml.safe_load_all(rendered) if document and document.get("kind") == "PersistentVolumeClaim"
    )


def check_inputs(args: argparse.Namespace) -> None:
    for tool in (HELM, KUBECTL):
        if not os.access(tool, os.X_OK):
            raise BenchmarkError(f"{tool} not found; run scripts/setup.sh")
    if not (args.chart.is_file() or (args.chart / "Chart.yaml").is_file()):
        raise BenchmarkError(f"chart not found: {args.chart}; run `make dist` or pass --chart")
    if not (BARE_CHART / "Chart.yaml").is_file():
        raise BenchmarkError(f"chart not found: {BARE_CHART}/Chart.yaml is missing")


def benchmark(args: argparse.Namespace, workdir: Path) -> list[str]:
    check_inputs(args)
    tool_env = {**os.environ, "KUBECACHEDIR": str(workdir / "kube-cache")}
    ours = Subject("ours", "our chart", args.chart, set_args=[f"--set={setting}" for setting in args.settings])
    bare = Subject("bare", "bare chart", BARE_CHART)
    for subject in (ours, bare):
        subject.install_args = list(args.helm_args)
        subject.claims = count_claims(subject, tool_env)
    # Every install of a chart with claims binds fresh volumes (see InstallTimer._remove).
    volumes = max(ours.claims, bare.claims) * (args.runs + 1)

    progress(f"starting the test cluster with {volumes} volumes per storage class")
    started = time.perf_counter()
    with LocalCluster(workdir / "cluster", volumes_per_class=volumes) as cluster:
        cluster_seconds = time.perf_counter() - started
        env = {**cluster.env, "KUBECACHEDIR": str(workdir / "kube-cache")}
        api = ApiServer.from_kubeconfig(cluster.kubeconfig)
        timer = InstallTimer(cluster, api, env, args.timeout)
        machine = describe_machine(cluster, env)
        load_before = load_average()

        runs: list[Run] = []
        for index in range(args.runs + 1):
            for subject in (ours, bare):
                run = timer.run(subject, index)
                timed = index > 0
                progress(f"{'run ' + str(index) if timed else 'untimed run'}: {format_run(run)}")
                if timed:
                    runs.append(run)
        load_after = load_average()

    return [
        "machine:",
        *(f"  {line}" for line in machine),
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"load average (1 minute): {load_before} before, {load_after} after; the cluster and the benchmark "
        "account for part of it",
        f"cluster: tests/kube_cluster.py, started in {cluster_seconds:.1f} s; default storage class binds on "
        f"first consumer; {volumes} pre-created volumes per class",
        f"our chart: {args.chart} ({sha256(args.chart)}), "
        f"{'default values' if not args.settings else 'default values and ' + ' '.join(args.settings)}, "
        f"{ours.claims} claims",
        f"bare chart: {BARE_CHART} ({bare.claims} claims)",
        f"runs: {args.runs} of each chart, alternating, after one untimed run of each; each in a fresh namespace "
        "with its own release name",
        "clock: from just before `helm install` (no --wait) to the arrival of the first pod watch event with "
        "status.phase Running; the watch is opened through the API server before the install; wall-clock seconds",
        "",
        *report(runs, ours, bare),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        lines = benchmark(args, workdir)
    except (BenchmarkError, ClusterError, subprocess.TimeoutExpired) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
