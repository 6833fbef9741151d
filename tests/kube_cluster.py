"""A throwaway Kubernetes control plane on loopback, for the cluster test tier.

It runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler (built from
the upstream Go modules by ``scripts/setup-cluster.sh``) and kwok in place of
kubelets: its fake nodes report Ready, their pods go Running, and pods owned by a
Job go Succeeded. Every port is on 127.0.0.1, every file under one directory.

On top of the bare control plane it adds what a PCAI cluster has, as far as a
test can reproduce it:

- the ``istio-system`` namespace, where the login policy goes;
- GPU nodes with ``nvidia.com/gpu`` capacity, the GPU taint and zone labels, and a
  CPU-only node;
- a default storage class that binds on first consumer and one that binds at once,
  each backed by pre-created volumes, so claims bind through the real scheduler;
- the Istio and Kubeflow ``PyTorchJob`` CRDs, read from their upstream modules;
- PCAI's Kyverno admission rules written as ValidatingAdmissionPolicies.

Run it by hand with ``make test-cluster``; the tests use the session fixture
in ``tests/conftest.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_TOOLS = ROOT / ".tools" / "cluster"
PROGRAMS = CLUSTER_TOOLS / "bin"
CRDS = CLUSTER_TOOLS / "crds"
KUBECTL = ROOT / ".tools" / "bin" / "kubectl"
HELM = ROOT / ".tools" / "bin" / "helm"

# Bounds on every wait, in seconds. A cold start on two busy cores takes about 10 s.
START_TIMEOUT = 120
STOP_TIMEOUT = 15
OBJECT_TIMEOUT = 120

SERVICE_RANGE = "10.96.0.0/16"
POD_RANGE = "10.244.0.1/16"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"

ISTIO_NAMESPACE = "istio-system"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
GPU_NODES = {"gpu-node-a": "zone-a", "gpu-node-b": "zone-b"}
CPU_NODES = {"cpu-node-a": "zone-a"}
GPUS_PER_NODE = 8

# Storage classes: the default binds when a pod first uses the claim (as most CSI
# drivers on PCAI do), the other binds as soon as the claim exists.
WAIT_CLASS = "local-wait"
IMMEDIATE_CLASS = "local-immediate"
VOLUME_SIZE = "2Ti"
# Claims outlive releases (resource-policy keep) and a released volume is not
# reused, so each class gets enough volumes for the whole test session.
VOLUMES_PER_CLASS = 120

# PCAI's Kyverno rules (HPE ai-solution-eng porting notes), as native policies.
GPU_LABELS_POLICY = "pcai-gpu-pod-labels"
CPU_LIMITS_POLICY = "pcai-container-cpu-limits"
EZUA_APP_LABEL = "hpe-ezua/app"
EZUA_COMPONENT_LABEL = "hpe-ezua/component"


class ClusterError(RuntimeError):
    """The test cluster could not start, or an object never reached its state."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns a true value; raise ClusterError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except ClusterError:
            raise
        except Exception as error:  # noqa: BLE001 (kept for the timeout message)
            last_error = error
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise ClusterError(
                f"{self.name} exited with status {self.popen.returncode}; "
                f"last lines of {self.log}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """Stop this process by its own id: SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=STOP_TIMEOUT)


@dataclass
class LocalCluster:
    """A control plane under ``workdir``; use it as a context manager."""

    workdir: Path
    volumes_per_class: int = VOLUMES_PER_CLASS
    processes: list[Process] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    # -- paths and clients ---------------------------------------------------

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for kubectl and helm: this cluster, and Helm's state kept here."""
        helm_home = self.workdir / "helm"
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = OBJECT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def helm(
        self, *args: str, check: bool = True, timeout: float = 2 * OBJECT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(HELM), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise ClusterError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def get(self, *args: str) -> dict[str, Any]:
        """``kubectl get ARGS -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, objects: Sequence[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
        """Server-side apply of ``objects``."""
        return self.kubectl(
            "apply", "--server-side", "--field-manager=test-cluster", *extra, "-f", "-",
            input=yaml.safe_dump_all(objects),
        )

    def _https_ok(self, port: int, path: str, verify: bool) -> bool:
        if verify:
            context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
            context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        else:
            # The controller manager and scheduler serve on self-signed certificates
            # of their own; the address is our own loopback port.
            context = ssl._create_unverified_context()  # noqa: S323
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        missing = [path for path in (*(PROGRAMS / name for name in (
            "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")), KUBECTL, HELM)
            if not os.access(path, os.X_OK)]
        if missing:
            raise ClusterError(
                f"missing programs: {', '.join(map(str, missing))}; run scripts/setup.sh and scripts/setup-cluster.sh"
            )
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        for name in ("etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"):
            self.ports[name] = free_port()
        self._write_pki()
        self._write_kubeconfig()
        self._start_etcd()
        self._start_apiserver()
        self._start_controllers()
        self._install_fixtures()
        self.log(f"ready in {time.monotonic() - started:.1f}s at {self.server} (KUBECONFIG={self.kubeconfig})")

    def stop(self) -> None:
        """Stop every process this cluster started, newest first."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    @staticmethod
    def log(message: str) -> None:
        print(f"test-cluster: {message}", file=sys.stderr, flush=True)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.workdir / "logs" / f"{name}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                cwd=self.workdir,
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def _wait_healthy(self, process: Process, check: Callable[[], bool]) -> None:
        def alive_and_ready() -> bool:
            process.check_alive()
            return check()

        wait_until(alive_and_ready, START_TIMEOUT, f"{process.name} to become healthy")

    # -- certificates --------------------------------------------------------

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.pki, check=True, capture_output=True, timeout=60)

    def _write_pki(self) -> None:
        self.pki.mkdir(exist_ok=True)
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                      "-days", "30", "-subj", "/CN=llamafactory-cdk8s-test-ca")
        (self.pki / "apiserver.ext").write_text(
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n"
        )
        (self.pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        for name, subject, extensions in (
            ("apiserver", "/CN=kube-apiserver", "apiserver.ext"),
            ("admin", "/O=system:masters/CN=test-admin", "client.ext"),
        ):
            self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                          "-subj", subject)
            self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                          "-CAcreateserial", "-out", f"{name}.crt", "-days", "30", "-extfile", extensions)
        self._openssl("genrsa", "-out", "sa.key", "2048")
        self._openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {
                "server": self.server, "certificate-authority": str(self.pki / "ca.crt")}}],
            "users": [{"name": "admin", "user": {
                "client-certificate": str(self.pki / "admin.crt"), "client-key": str(self.pki / "admin.key")}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    # -- processes -----------------------------------------------------------

    def _start_etcd(self) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd-client']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        process = self._spawn("etcd", [
            str(PROGRAMS / "etcd"),
            "--name=test",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            # Test data need not survive a power cut; skipping fsync saves seconds.
            "--unsafe-no-fsync",
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=5) as response:
                return json.load(response).get("health") == "true"

        self._wait_healthy(process, healthy)

    def _start_apiserver(self) -> None:
        pki = self.pki
        process = self._spawn("kube-apiserver", [
            str(PROGRAMS / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd-client']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--authorization-mode=Node,RBAC",
            # The kubernetes Service would point at 127.0.0.1, which endpoints refuse.
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ])
        self._wait_healthy(process, lambda: self._https_ok(self.ports["apiserver"], "/readyz", verify=True))

    def _start_controllers(self) -> None:
        kubeconfig = str(self.kubeconfig)
        common = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--profiling=false",
        ]

        controller_manager = self._spawn("kube-controller-manager", [
            str(PROGRAMS / "kube-controller-manager"),
            *common,
            f"--secure-port={self.ports['controller-manager']}",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--controllers=*",
        ])
        scheduler = self._spawn("kube-scheduler", [
            str(PROGRAMS / "kube-scheduler"),
            *common,
            f"--secure-port={self.ports['scheduler']}",
        ])

        kwok_home = self.workdir / "kwok-home"
        kwok_home.mkdir(exist_ok=True)
        kwok = self._spawn("kwok", [
            str(PROGRAMS / "kwok"),
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.2",
            f"--cidr={POD_RANGE}",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{self.ports['kwok']}",
        ], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(kwok_home)})

        for process, port in ((controller_manager, "controller-manager"), (scheduler, "scheduler")):
            self._wait_healthy(process, lambda port=port: self._https_ok(self.ports[port], "/healthz", verify=False))
        kwok.check_alive()
        # The ServiceAccount controller creates "default" in every namespace, and pods
        # cannot be admitted before it exists.
        wait_until(
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
            START_TIMEOUT,
            "the default ServiceAccount",
        )

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    # -- fixtures ------------------------------------------------------------

    def _install_fixtures(self) -> None:
        # PCAI puts the login AuthorizationPolicy in Istio's own namespace.
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}])
        self.apply(nodes())
        wait_until(self._nodes_ready, START_TIMEOUT, "the fake nodes to become Ready")
        self.apply(storage_objects(self.volumes_per_class))
        self._install_crds()
        self.apply(admission_policies())
        wait_until(self._policies_enforced, START_TIMEOUT, "the admission policies to be enforced")

    def _nodes_ready(self) -> bool:
        self.check_alive()
        items = self.get("nodes")["items"]
        ready = {
            node["metadata"]["name"]
            for node in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
        }
        return ready >= {*GPU_NODES, *CPU_NODES}

    def _install_crds(self) -> None:
        expected = {"virtualservices.networking.istio.io", "authorizationpolicies.security.istio.io",
                  "pytorchjobs.kubeflow.org"}
        crds = []
        for path in sorted(CRDS.glob("*.yaml")):
            for document in yaml.safe_load_all(path.read_text()):
                if document and document.get("metadata", {}).get("name") in expected:
                    crds.append(document)
        found = {crd["metadata"]["name"] for crd in crds}
        if found != expected:
            raise ClusterError(f"CRDs missing from {CRDS}: {sorted(expected - found)}; run scripts/setup-cluster.sh")
        self.apply(crds)
        for name in sorted(expected):
            self.kubectl("wait", "--for=condition=Established", f"crd/{name}", f"--timeout={OBJECT_TIMEOUT}s")

    def _policies_enforced(self) -> bool:
        """Policies compile and reach the admission chain a moment after they are created."""
        results = [
            self.kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                         input=yaml.safe_dump(probe_pod(gpu=gpu, labels=False, cpu_limit=cpu)), check=False)
            for gpu, cpu in ((True, True), (False, False))
        ]
        return all(result.returncode != 0 and "ValidatingAdmissionPolicy" in result.stderr for result in results)

    # -- helpers for tests ---------------------------------------------------

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = OBJECT_TIMEOUT) -> Any:
        def alive_and(check=check) -> Any:
            self.check_alive()
            return check()

        return wait_until(alive_and, timeout, what)

    @contextlib.contextmanager
    def namespace(self, name: str) -> Iterator[str]:
        """A namespace for one test; deleted afterwards without waiting."""
        self.kubectl("create", "namespace", name)
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false", check=False)


# -- objects the cluster starts with ------------------------------------------


def _node(name: str, zone: str, gpus: int) -> dict[str, Any]:
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone,
        "type": "kwok",
    }
    spec: dict[str, Any] = {}
    if gpus:
        capacity[GPU_RESOURCE] = str(gpus)
        labels["nvidia.com/gpu.present"] = "true"
        spec["taints"] = [GPU_TAINT]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {FAKE_NODE_ANNOTATION: "fake"}},
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def nodes() -> list[dict[str, Any]]:
    return [
        *(_node(name, zone, GPUS_PER_NODE) for name, zone in GPU_NODES.items()),
        *(_node(name, zone, 0) for name, zone in CPU_NODES.items()),
    ]


def storage_objects(volumes_per_class: int) -> list[dict[str, Any]]:
    classes = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": name,
                "annotations": {"storageclass.kubernetes.io/is-default-class": str(default).lower()},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": mode,
            "reclaimPolicy": "Retain",
            "allowVolumeExpansion": True,
        }
        for name, mode, default in (
            (WAIT_CLASS, "WaitForFirstConsumer", True),
            (IMMEDIATE_CLASS, "Immediate", False),
        )
    ]
    volumes = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{storage_class}-{index:03d}", "labels": {"test-cluster/pool": storage_class}},
            "spec": {
                "capacity": {"storage": VOLUME_SIZE},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": storage_class,
                # kwok never mounts anything; the path only has to be valid.
                "hostPath": {"path": f"/var/lib/test-cluster/{storage_class}-{index:03d}"},
            },
        }
        for storage_class in (WAIT_CLASS, IMMEDIATE_CLASS)
        for index in range(volumes_per_class)
    ]
    return [*classes, *volumes]


def _policy(name: str, match_conditions: list[dict[str, str]], validations: list[dict[str, str]]) -> list[dict[str, Any]]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"],
                }],
            },
            "matchConditions": match_conditions,
            "validations": validations,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"],
            }]}},
        },
    }
    return [policy, binding]


ALL_CONTAINERS = "object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])"


def admission_policies() -> list[dict[str, Any]]:
    """PCAI's two Kyverno rules for pods, as ValidatingAdmissionPolicies."""
    requests_gpu = (
        f"({ALL_CONTAINERS}).exists(c, has(c.resources) && "
        f"((has(c.resources.limits) && '{GPU_RESOURCE}' in c.resources.limits) || "
        f"(has(c.resources.requests) && '{GPU_RESOURCE}' in c.resources.requests)))"
    )
    labels_set = " && ".join(
        f"has(object.metadata.labels) && '{label}' in object.metadata.labels && "
        f"object.metadata.labels['{label}'] != ''"
        for label in (EZUA_APP_LABEL, EZUA_COMPONENT_LABEL)
    )
    return [
        *_policy(
            GPU_LABELS_POLICY,
            [{"name": "requests-gpu", "expression": requests_gpu}],
            [{
                "expression": labels_set,
                "message": f"a pod that requests {GPU_RESOURCE} needs non-empty {EZUA_APP_LABEL} and "
                           f"{EZUA_COMPONENT_LABEL} labels",
                "reason": "Forbidden",
            }],
        ),
        *_policy(
            CPU_LIMITS_POLICY,
            [],
            [{
                "expression": f"({ALL_CONTAINERS}).all(c, has(c.resources) && has(c.resources.limits) && "
                              "'cpu' in c.resources.limits)",
                "message": "every container must set resources.limits.cpu",
                "reason": "Forbidden",
            }],
        ),
    ]


def probe_pod(*, gpu: bool, labels: bool, cpu_limit: bool, name: str = "admission-probe") -> dict[str, Any]:
    """A minimal pod for checking the admission policies."""
    limits: dict[str, str] = {"memory": "64Mi"}
    if cpu_limit:
        limits["cpu"] = "100m"
    if gpu:
        limits[GPU_RESOURCE] = "1"
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = {EZUA_APP_LABEL: "probe", EZUA_COMPONENT_LABEL: "probe"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [{"name": "main", "image": "registry.invalid/probe:1", "resources": {"limits": limits}}],
            "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Start the test cluster on loopback, print its KUBECONFIG, and stop it on Ctrl-C or SIGTERM."
    )
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temporary directory)")
    parser.add_argument("--volumes-per-class", type=int, default=VOLUMES_PER_CLASS)
    arguments = parser.parse_args(argv)
    workdir = arguments.dir or Path(tempfile.mkdtemp(prefix="test-cluster-"))
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        with LocalCluster(workdir, volumes_per_class=arguments.volumes_per_class) as cluster:
            print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
            cluster.log("running; press Ctrl-C to stop")
            while not stop_requested:
                cluster.check_alive()
                time.sleep(1)
            cluster.log("stopping")
    except ClusterError as error:
        print(f"test-cluster: ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
