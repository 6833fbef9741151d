"""Run the main container of a synthesized pod with the real LLaMA Factory, as the kubelet would.

``PodRun`` takes the Deployment or the Job of a render (the constructs' manifests or
``helm template``) and a virtual environment that replaces the image. It starts
the container's command and args with the container's environment, its volume mounts
at their mount paths (ConfigMaps written from the render), its working directory, its
user and its capabilities, inside the namespaces that tests/runtime_sandbox.py builds.
Then it probes the process as the pod's startup, readiness and liveness probes say,
or, for a Job, waits for it to exit. It stops the container as the kubelet does:
SIGTERM to the main process, then SIGKILL to all of them after the grace period.

Nothing touches the host's file system outside the test's own directory: the mounts
exist only in a private mount namespace. The process has a network namespace of its
own with only a loopback interface. Probes, test requests and Chromium reach it by
entering that namespace, so no traffic leaves the machine.

Needs root, util-linux (unshare, nsenter, setpriv, mount) and iproute2 (ip).
"""

from __future__ import annotations

import base64
import concurrent.futures
import ctypes
import http.client
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llamafactory_cdk8s.values import APP_VERSION, ImageValues

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SANDBOX = Path(__file__).resolve().parent / "runtime_sandbox.py"
ENVIRONMENTS = REPO / ".tools" / "runtime"
ARTIFACTS = REPO / "test-artifacts" / "runtime"

COMMAND = "llamafactory-cli"
"""The container's executable. In the image it is on PATH; here the venv's copy is."""

SHELLS = ("/bin/sh", "/bin/bash")
"""Shells a command may start with. The host's copies stand in for the image's and
find ``llamafactory-cli`` on the venv's PATH."""

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the upstream image, which the kubelet passes when the pod sets none."""

PROBES = ("startup", "readiness", "liveness")

TEST_ENV = {
    # The network namespace has no route out, so these make the libraries fail fast
    # instead of waiting for a connection.
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # Flush the container's output at once, so a failure shows its last lines.
    "PYTHONUNBUFFERED": "1",
}
"""Variables the runtime tests add to the container's environment; the pod sets none of them."""
CLONE_NEWNET = 0x40000000
STOP_GRACE_SECONDS = 10
"""Default maximum wait between SIGTERM and SIGKILL; the pod's own grace period is used
when shorter, and ``PodRun.stop`` takes a longer one."""

Manifest = dict[str, Any]


class HarnessError(Exception):
    """The pod spec uses something the harness cannot run, or the sandbox failed to start."""


@dataclass
class StopResult:
    """How the container ended when the harness stopped it."""

    grace_seconds: float
    """Seconds allowed between SIGTERM and SIGKILL."""
    exit_status: int
    """Exit status as the kubelet reports it: the command's, or 128 + the signal that ended it."""
    killed: bool
    """True when the process outlived the grace period and needed SIGKILL."""


# --- what the tests need --------------------------------------------------------------


def runtime_versions() -> list[str]:
    """Return the LLaMA Factory versions the project names: the chart's appVersion and the default image tag."""
    return list(dict.fromkeys([APP_VERSION, ImageValues().tag]))


def require_runtime(version: str) -> Path:
    """Return the venv of ``version`` that scripts/setup-runtime.sh built; skip or fail without it.

    Without root, unshare, nsenter or the venv, the test is skipped locally, but it
    fails under CI=true, where every tool must be installed.
    """
    problems = []
    if os.geteuid() != 0:
        problems.append("the runtime tier needs root for its mount and network namespaces")
    for tool in ("unshare", "nsenter", "setpriv", "mount", "ip"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not on PATH (Debian packages util-linux, mount, iproute2)")
    venv = ENVIRONMENTS / f"llamafactory-{version}"
    if not (venv / "bin" / COMMAND).exists():
        problems.append(f"{venv}/bin/{COMMAND} not found; run 'make setup-runtime'")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return venv.resolve()


def require_chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not on PATH; run 'make setup-runtime' (it installs Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def workload_pod(manifests: list[Manifest], kind: str = "Deployment") -> tuple[Manifest, Manifest]:
    """Return the pod template and the main container of the render's one ``kind`` (Deployment or Job)."""
    workloads = [manifest for manifest in manifests if manifest["kind"] == kind]
    if len(workloads) != 1:
        raise HarnessError(f"expected one {kind}, found {len(workloads)}")
    template = workloads[0]["spec"]["template"]
    return template, template["spec"]["containers"][0]


def config_map_data(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Return the ConfigMaps of a render as ``{name: {key: value}}``."""
    return {
        manifest["metadata"]["name"]: dict(manifest.get("data") or {})
        for manifest in manifests
        if manifest["kind"] == "ConfigMap"
    }


# --- environment ------------------------------------------------------------------------


def secret_data(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Return the Secrets of a render as ``{name: {key: value}}``, decoding ``data``."""
    secrets: dict[str, dict[str, str]] = {}
    for manifest in manifests:
        if manifest["kind"] != "Secret":
            continue
        values = {key: base64.b64decode(value).decode() for key, value in (manifest.get("data") or {}).items()}
        values.update(manifest.get("stringData") or {})
        secrets[manifest["metadata"]["name"]] = values
    return secrets


def resolve_env(
    container: Manifest,
    *,
    secrets: Mapping[str, Mapping[str, str]],
    fields: Mapping[str, str],
) -> dict[str, str]:
    """Resolve the container's ``env`` as the kubelet does, in order, with ``$(VAR)`` references.

    ``secrets`` maps Secret names to their keys. ``fields`` gives the downward API's
    ``fieldRef`` paths, for example ``metadata.name``.
    """
    env: dict[str, str] = {}
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = expand_references(item["value"], env)
            continue
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            secret = secrets.get(reference["name"])
            if secret is None or reference["key"] not in secret:
                if reference.get("optional"):
                    continue
                raise HarnessError(
                    f"env {name}: Secret {reference['name']!r} key {reference['key']!r} not found; "
                    "pass it in secrets, as the cluster would hold it"
                )
            env[name] = secret[reference["key"]]
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in fields:
                raise HarnessError(f"env {name}: fieldRef {path!r} is not supported by the harness")
            env[name] = fields[path]
        else:
            raise HarnessError(f"env {name}: valueFrom {sorted(source)} is not supported by the harness")
    if container.get("envFrom"):
        raise HarnessError("envFrom is not supported by the harness")
    return env


def expand_references(value: str, env: Mapping[str, str]) -> str:
    """Expand ``$(NAME)`` from earlier variables; ``$$`` escapes, unknown names stay, as in Kubernetes."""
    output = []
    index = 0
    while index < len(value):
        if value.startswith("$$", index):
            output.append("$")
            index += 2
        elif value.startswith("$(", index) and ")" in value[index:]:
            end = value.index(")", index)
            name = value[index + 2 : end]
            output.append(env.get(name, value[index : end + 1]))
            index = end + 1
        else:
            output.append(value[index])
            index += 1
    return "".join(output)


# --- volumes ----------------------------------------------------------------------------


@dataclass
class Mount:
    """One volume mount: a host directory (or a tmpfs) at a path inside the container."""

    target: str
    volume: str
    source: Path | None
    read_only: bool
    tmpfs_size: str | None


def plan_mounts(
    pod_spec: Manifest,
    container: Manifest,
    volumes_dir: Path,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Mount]:
    """Give every volume a directory under ``volumes_dir`` and resolve each mount's subPath.

    A claim or a disk-backed emptyDir becomes the directory ``volumes_dir/NAME``, which
    keeps its content after the run for the test to read. A memory-backed emptyDir
    becomes a tmpfs of its ``sizeLimit``. A ConfigMap volume becomes a directory with
    one file per key (or per ``items`` entry) from ``config_maps``, mounted read-only
    as the kubelet mounts it.
    """
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    mounts = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        empty_dir = volume.get("emptyDir")
        if empty_dir is not None and empty_dir.get("medium") == "Memory":
            size = str(empty_dir.get("sizeLimit", "64Mi")).replace("Gi", "g").replace("Mi", "m")
            mounts.append(Mount(mount["mountPath"], volume["name"], None, False, size))
            continue
        if "configMap" in volume:
            source = write_config_map_volume(volume, volumes_dir / volume["name"], config_maps or {})
            if mount.get("subPath"):
                source = source / mount["subPath"]
            mounts.append(Mount(mount["mountPath"], volume["name"], source, True, None))
            continue
        if empty_dir is None and "persistentVolumeClaim" not in volume:
            raise HarnessError(
                f"volume {volume['name']!r}: only claims, emptyDir and configMap are supported by the harness"
            )
        source = volumes_dir / volume["name"]
        if mount.get("subPath"):
            source = source / mount["subPath"]
        # The kubelet creates a missing subPath directory, and so does this.
        source.mkdir(parents=True, exist_ok=True)
        read_only = bool(mount.get("readOnly")) or bool(volume.get("persistentVolumeClaim", {}).get("readOnly"))
        mounts.append(Mount(mount["mountPath"], volume["name"], source, read_only, None))
    return mounts


def write_config_map_volume(volume: Manifest, directory: Path, config_maps: Mapping[str, Mapping[str, str]]) -> Path:
    """Write a ConfigMap volume's files into ``directory``, as the kubelet projects them.

    Without ``items`` every key becomes a file of that name; with ``items`` only the
    listed keys do, at their ``path``. A missing ConfigMap or key raises, unless the
    volume is ``optional``.
    """
    source = volume["configMap"]
    name = source["name"]
    data = config_maps.get(name)
    directory.mkdir(parents=True, exist_ok=True)
    if data is None:
        if source.get("optional"):
            return directory
        raise HarnessError(f"volume {volume['name']!r}: ConfigMap {name!r} not found in the render")
    items = source.get("items") or [{"key": key, "path": key} for key in data]
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise HarnessError(f"volume {volume['name']!r}: ConfigMap {name!r} has no key {item['key']!r}")
        path = directory / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]], encoding="utf-8")
        # defaultMode 0644 unless the volume or the item sets another.
        path.chmod(item.get("mode", source.get("defaultMode", 0o644)))
    return directory


def apply_fs_group(mounts: list[Mount], group: int) -> None:
    """Give ``group`` the volumes, as the kubelet does for ``fsGroup``: owner group, setgid, group-writable."""
    for mount in mounts:
        if mount.source is None:
            continue
        for directory, _, files in os.walk(mount.source):
            for path in [directory, *(os.path.join(directory, name) for name in files)]:
                os.chown(path, -1, group)
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o070 | (0o2000 if os.path.isdir(path) else 0))


# --- probes -----------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """How one probe fared: every attempt, and when it first passed or finally failed."""

    kind: str
    spec: Manifest
    attempts: list[tuple[float, str]] = field(default_factory=list)
    passed_at: float | None = None
    failed: str | None = None
    consecutive_failures: int = 0

    def summary(self) -> str:
        state = f"passed at {self.passed_at:.1f}s" if self.passed_at is not None else "not passed"
        if self.failed:
            state += f", FAILED: {self.failed}"
        tries = ", ".join(f"{moment:.1f}s {outcome}" for moment, outcome in self.attempts[-6:])
        return f"{self.kind}: {state} after {len(self.attempts)} attempts (last: {tries})"


class NetnsExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool whose threads live in a network namespace, so their sockets connect inside it."""

    def __init__(self, namespace_path: str) -> None:
        self._namespace_fd = os.open(namespace_path, os.O_RDONLY)
        super().__init__(max_workers=2, initializer=self._enter)

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(self._namespace_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the pod's network namespace failed")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if self._namespace_fd >= 0:
            os.close(self._namespace_fd)
            self._namespace_fd = -1


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10,
) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Response(response.status, response.read())
    finally:
        connection.close()


# --- the run ------------------------------------------------------------------------------


class PodRun:
    """The main container of one render, run with the real LLaMA Factory and probed.

    Use it as a context manager: leaving it stops the process group and the probes.

    Args:
        manifests: the render that contains the workload and its ConfigMaps and Secrets.
        kind: the workload whose pod runs, ``Deployment`` or ``Job``. A Job's
            container has no probes; wait for it with :meth:`wait_for_exit`.
        venv: virtual environment of the LLaMA Factory version, in place of the image.
        workdir: the test's own directory for volumes, the sandbox root and the log.
        secrets: Secrets that exist in the cluster beforehand (``existingSecret``),
            as ``{name: {key: value}}``. Secrets of the render are read from it.
        test_env: variables the test adds, for example ``HF_HUB_OFFLINE``. A name
            that the pod sets itself raises ``HarnessError``, so a test never hides
            a pod setting.
    """

    def __init__(
        self,
        manifests: list[Manifest],
        *,
        kind: str = "Deployment",
        venv: Path,
        workdir: Path,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        test_env: Mapping[str, str] | None = None,
    ) -> None:
        template, container = workload_pod(manifests, kind)
        self.pod_spec = template["spec"]
        self.container = container
        self.venv = venv
        self.workdir = workdir
        self.log_path = workdir / "container.log"
        self.pod_name = "llamafactory-runtime-test"

        self.argv = self._argv()
        known_secrets = {**secret_data(manifests), **dict(secrets or {})}
        fields = {
            "metadata.name": self.pod_name,
            "metadata.namespace": "llamafactory",
            "status.podIP": "127.0.0.1",
            "spec.nodeName": "runtime-test",
        }
        self.env = self._env(resolve_env(container, secrets=known_secrets, fields=fields), dict(test_env or {}))
        self.mounts = plan_mounts(self.pod_spec, container, workdir / "volumes", config_map_data(manifests))
        self.working_dir = container.get("workingDir", "/")
        self.ports = {port["name"]: port["containerPort"] for port in container.get("ports", []) if "name" in port}

        self.process: subprocess.Popen[bytes] | None = None
        self.main_pid: int | None = None
        """Host PID of the container's main process, the one that runs the command."""
        self.stop_result: StopResult | None = None
        self.started_at: float | None = None
        self.executor: NetnsExecutor | None = None
        self.probes = {kind: ProbeResult(kind, container[f"{kind}Probe"]) for kind in PROBES if f"{kind}Probe" in container}
        self._stop_probing = threading.Event()
        self._prober: threading.Thread | None = None

    # --- plan ---------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        command = list(self.container.get("command") or [])
        args = list(self.container.get("args") or [])
        if command and command[0] in SHELLS:
            # The shell's script starts llamafactory-cli from PATH, which leads to the venv.
            return [*command, *args]
        if not command or command[0] != COMMAND:
            raise HarnessError(f"expected the command to start with {COMMAND!r} or a shell, found {command!r}")
        executable = self.venv / "bin" / COMMAND
        if not executable.exists():
            raise HarnessError(f"{executable} not found; run 'make setup-runtime'")
        return [str(executable), *command[1:], *args]

    def _env(self, pod_env: dict[str, str], test_env: dict[str, str]) -> dict[str, str]:
        clashes = sorted(set(pod_env) & set(test_env))
        if clashes:
            raise HarnessError(f"the test would override variables the pod sets: {clashes}")
        uid = self.run_as_user
        # The runtime sets PATH from the image and HOME from the user, unless the pod sets them.
        env = {"PATH": f"{self.venv}/bin:{IMAGE_PATH}", "HOSTNAME": self.pod_name, "HOME": "/root" if uid == 0 else "/"}
        env.update(pod_env)
        env.update(test_env)
        return env

    def _security(self, key: str) -> Any:
        """Return a security setting: the container's overrides the pod's, as in Kubernetes."""
        container_context = self.container.get("securityContext") or {}
        if key in container_context:
            return container_context[key]
        return (self.pod_spec.get("securityContext") or {}).get(key)

    @property
    def shares_process_namespace(self) -> bool:
        """Whether another process (the pod's pause container) is PID 1, not the command."""
        return bool(self.pod_spec.get("shareProcessNamespace"))

    @property
    def run_as_user(self) -> int:
        user = self._security("runAsUser")
        return 0 if user is None else int(user)

    def host_path(self, container_path: str) -> Path:
        """Return the host directory that backs ``container_path`` through the deepest volume mount."""
        best: Mount | None = None
        for mount in self.mounts:
            inside = container_path == mount.target or container_path.startswith(mount.target.rstrip("/") + "/")
            if inside and mount.source is not None and (best is None or len(mount.target) > len(best.target)):
                best = mount
        if best is None:
            raise HarnessError(f"{container_path} is on no disk-backed volume of the pod")
        assert best.source is not None
        return best.source / os.path.relpath(container_path, best.target)

    def _sandbox_spec(self) -> dict[str, Any]:
        uid = self.run_as_user
        group = self._security("runAsGroup")
        gid = int(group) if group is not None else 0
        fs_group = (self.pod_spec.get("securityContext") or {}).get("fsGroup")
        groups = [int(fs_group)] if fs_group is not None else []
        if fs_group is not None:
            apply_fs_group(self.mounts, int(fs_group))
        capabilities = self._security("capabilities") or {}
        python_home = (self.venv / "pyvenv.cfg").read_text().split("home = ", 1)[1].splitlines()[0]
        root = self.workdir / "sandbox-root"
        root.mkdir(exist_ok=True)
        return {
            "root": str(root),
            # The interpreter the venv links to, and the venv itself, stand in for the image's Python.
            "image_paths": [str(Path(python_home).parent), str(self.venv)],
            "mounts": [
                {
                    "target": mount.target,
                    "source": str(mount.source) if mount.source else None,
                    "read_only": mount.read_only,
                    "tmpfs_size": mount.tmpfs_size,
                }
                for mount in self.mounts
            ],
            "working_dir": self.working_dir,
            "read_only_root": bool(self._security("readOnlyRootFilesystem")),
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "no_new_privileges": self._security("allowPrivilegeEscalation") is False,
            "drop_all_capabilities": "ALL" in (capabilities.get("drop") or []),
            "share_process_namespace": self.shares_process_namespace,
            "env": self.env,
            "argv": self.argv,
        }

    # --- start and stop -----------------------------------------------------------------

    def __enter__(self) -> PodRun:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        spec_path = self.workdir / "sandbox.json"
        spec_path.write_text(json.dumps(self._sandbox_spec(), indent=2), encoding="utf-8")
        read_end, write_end = os.pipe()
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                [
                    "unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
                    "--propagation", "private",
                    sys.executable, str(SANDBOX), str(spec_path), str(write_end),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_end,),
                env={"PATH": os.environ.get("PATH", IMAGE_PATH)},
                start_new_session=True,
            )
        finally:
            os.close(write_end)
            log.close()

        try:
            ready, _, _ = select.select([read_end], [], [], 60)
            signal_line = os.read(read_end, 16) if ready else b""
        finally:
            os.close(read_end)
        if signal_line != b"exec\n":
            self.stop()
            raise HarnessError(f"the sandbox did not start the command:\n{self.log_tail()}")

        self.started_at = time.monotonic()
        self.main_pid = self._find_main_pid()
        self.executor = NetnsExecutor(f"/proc/{self.process.pid}/ns/net")
        logger.info("started %s (process group %d)", " ".join(self.argv), self.process.pid)
        self._prober = threading.Thread(target=self._probe_loop, name="kubelet-probes", daemon=True)
        self._prober.start()

    def _find_main_pid(self) -> int:
        """Return the host PID of the process that executes the command.

        unshare's child is PID 1 of the namespace. It is the command itself, unless the
        pod shares its process namespace, where it only reaps and its one child is.
        """
        assert self.process is not None
        pid = self.process.pid
        for _ in range(2 if self.shares_process_namespace else 1):
            children = child_pids(pid)
            if len(children) != 1:
                raise HarnessError(f"expected one child of PID {pid} in the sandbox, found {children}")
            pid = children[0]
        return pid

    def namespace_pid(self) -> int:
        """Return the main process's PID inside its PID namespace (1 when it is the namespace's init)."""
        if self.main_pid is None:
            raise HarnessError("the container was not started")
        status = Path(f"/proc/{self.main_pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("NSpid:"))
        return int(line.split()[-1])

    def stop(self, grace_seconds: float | None = None) -> StopResult | None:
        """Stop the probes, then the container as the kubelet does, and return how it ended.

        SIGTERM goes to the main process only. Whatever still runs after the grace
        period gets SIGKILL. The grace period is the pod's
        ``terminationGracePeriodSeconds``, capped at ``STOP_GRACE_SECONDS`` unless
        ``grace_seconds`` is given. Returns None if the container was not running.
        """
        self._stop_probing.set()
        if self._prober is not None:
            self._prober.join(timeout=30)
        if self.process is not None and self.process.poll() is None:
            if grace_seconds is None:
                grace_seconds = min(int(self.pod_spec.get("terminationGracePeriodSeconds", 30)), STOP_GRACE_SECONDS)
            # As PID 1 of its namespace, the command ignores SIGTERM unless it
            # installed a handler, so only SIGKILL ends it then.
            if self.main_pid is not None:
                signal_process(self.main_pid, signal.SIGTERM)
            killed = False
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                killed = True
                signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            status = self.process.returncode
            self.stop_result = StopResult(grace_seconds, 128 - status if status < 0 else status, killed)
            logger.info("stopped %s: %s", " ".join(self.argv), self.stop_result)
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        return self.stop_result

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait_for_exit(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the container to exit and return its exit status.

        On timeout the process group is stopped and ``HarnessError`` raised with the
        end of the log. A signal's death is returned as 128 + its number, as the
        kubelet reports it.
        """
        if self.process is None:
            raise HarnessError("the container was not started")
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise HarnessError(f"the container did not exit within {timeout}s:\n{self.log_tail()}") from None
        return 128 - status if status < 0 else status

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # --- requests inside the pod's network namespace --------------------------------------

    def request(self, port: int | str, path: str, **options: Any) -> Response:
        """Send one HTTP request to the container's port (a number or a port name) over loopback."""
        if self.executor is None:
            raise HarnessError("the container is not running")
        number = self._port_number(port)
        return self.executor.submit(http_request, number, path, **options).result()

    def in_namespace(self, argv: list[str]) -> list[str]:
        """Return ``argv`` prefixed with nsenter, so it runs in the pod's network namespace only."""
        assert self.process is not None
        return ["nsenter", f"--net=/proc/{self.process.pid}/ns/net", "--", *argv]

    def _port_number(self, port: int | str) -> int:
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        if port not in self.ports:
            raise HarnessError(f"the container declares no port named {port!r}; it has {sorted(self.ports)}")
        return self.ports[port]

    # --- probes -----------------------------------------------------------------------------

    def wait_for_probes(self, timeout: float | None = None) -> dict[str, ProbeResult]:
        """Wait until every probe has passed once, one has failed for good, or the process exits.

        The default timeout is the startup probe's budget (period × failureThreshold)
        plus the longest period of the others, the longest a kubelet would wait.
        """
        if timeout is None:
            timeout = self._startup_budget() + max(self._period(kind) for kind in self.probes) + 10
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(result.passed_at is not None for result in self.probes.values()):
                break
            if any(result.failed for result in self.probes.values()) or self.exit_code() is not None:
                break
            time.sleep(0.5)
        return self.probes

    def probe_report(self) -> str:
        lines = [result.summary() for result in self.probes.values()]
        exit_code = self.exit_code()
        if exit_code is not None:
            lines.append(f"the container exited with status {exit_code}")
        return "\n".join(lines) + "\n--- container output ---\n" + self.log_tail()

    def _period(self, kind: str) -> int:
        return int(self.probes[kind].spec.get("periodSeconds", 10))

    def _startup_budget(self) -> float:
        if "startup" not in self.probes:
            return 0
        spec = self.probes["startup"].spec
        return spec.get("initialDelaySeconds", 0) + self._period("startup") * spec.get("failureThreshold", 3)

    def _probe_loop(self) -> None:
        """Run each probe at initialDelaySeconds + k × periodSeconds after the container started.

        As in the kubelet, readiness and liveness are not probed until the startup probe
        has passed, and the startup probe stops once it has. A probe that fails
        failureThreshold times in a row has failed for good, except readiness, which
        only marks the pod unready.
        """
        assert self.started_at is not None
        next_run = {kind: self.started_at + result.spec.get("initialDelaySeconds", 0) for kind, result in self.probes.items()}
        while not self._stop_probing.is_set() and next_run:
            kind = min(next_run, key=next_run.__getitem__)
            delay = next_run[kind] - time.monotonic()
            if delay > 0 and self._stop_probing.wait(delay):
                return
            next_run[kind] += self._period(kind)
            startup = self.probes.get("startup")
            if kind != "startup" and startup is not None and startup.passed_at is None:
                continue
            self._probe_once(self.probes[kind])
            result = self.probes[kind]
            if kind == "startup" and result.passed_at is not None:
                del next_run[kind]
            if result.failed and kind != "readiness":
                return

    def _probe_once(self, result: ProbeResult) -> None:
        assert self.started_at is not None and self.executor is not None
        http_get = result.spec.get("httpGet")
        if http_get is None:
            result.failed = f"only httpGet probes are supported by the harness, found {sorted(result.spec)}"
            return
        headers = {"User-Agent": "kube-probe/runtime-test", "Accept": "*/*"}
        headers.update({header["name"]: header["value"] for header in http_get.get("httpHeaders", [])})
        timeout = result.spec.get("timeoutSeconds", 1)
        moment = time.monotonic() - self.started_at
        try:
            response = self.executor.submit(
                http_request, self._port_number(http_get["port"]), http_get.get("path", "/"), headers=headers, timeout=timeout
            ).result(timeout=timeout + 5)
            outcome = str(response.status)
            success = 200 <= response.status < 400
        except (OSError, http.client.HTTPException, concurrent.futures.TimeoutError) as error:
            outcome = type(error).__name__
            success = False
        result.attempts.append((moment, outcome))
        if success:
            result.consecutive_failures = 0
            if result.passed_at is None:
                result.passed_at = moment
                logger.info("%s probe passed at %.1fs", result.kind, moment)
            return
        result.consecutive_failures += 1
        if result.consecutive_failures >= result.spec.get("failureThreshold", 3):
            result.failed = f"{result.consecutive_failures} failures in a row, the last {outcome} at {moment:.1f}s"


def child_pids(parent: int) -> list[int]:
    """Return the PIDs of ``parent``'s children, read from /proc/PID/stat.

    The kernels that the tests run on may lack /proc/PID/task/TID/children
    (CONFIG_PROC_CHILDREN), so every process's parent is read instead.
    """
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces; the PPID is the second field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def signal_process(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def signal_group(group: int, number: signal.Signals) -> None:
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        pass


# --- bounded helper processes -----------------------------------------------------------


def run_bounded(argv: list[str], *, timeout: float, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in a process group of its own and kill the whole group after ``timeout`` seconds."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=30)
        raise HarnessError(f"{argv[0]} timed out after {timeout}s: {stderr.decode(errors='replace')[-2000:]}") from None
    finally:
        # Children that outlive their parent (Chromium's helpers) go too.
        signal_group(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def build_tiny_model(venv: Path, output: Path) -> None:
    """Build the random-weight Llama and its locally trained tokenizer with the venv's own libraries, offline."""
    script = Path(__file__).resolve().parent / "runtime_model.py"
    env = {"PATH": IMAGE_PATH, "HF_HUB_OFFLINE": "1", "HOME": str(output.parent)}
    result = run_bounded(
        ["unshare", "--net", "--", str(venv / "bin" / "python"), str(script), str(output)], timeout=300, env=env
    )
    if result.returncode != 0:
        raise HarnessError(f"building the tiny model failed:\n{result.stderr.decode(errors='replace')[-3000:]}")


