"""LlamaFactoryWorkload: the Deployment and Service that run LLaMA Factory."""

from __future__ import annotations

from typing import Any

import cdk8s
import cdk8s_plus_27 as kplus
from cdk8s_plus_27 import k8s
from constructs import Construct

from .errors import ConstructError
from .naming import ReleaseNames
from .shm import ShmVolume
from .storage import StorageConstruct
from .values import GPU_RESOURCE, STARTUP_BUDGET_FLOOR_SECONDS, Values, number_string

CONTAINER_NAME = "llamafactory"
PORT_NAME = "http"
WORKING_DIR = "/app"
TMP_PATH = "/tmp"

PROBE_PATHS = {"webui": "/", "api": "/docs"}
"""A path each mode serves without a key: LLaMA Board serves ``/``. The API has no
``/`` route, but FastAPI's ``/docs`` needs no API key."""

PULL_POLICIES = {
    "IfNotPresent": kplus.ImagePullPolicy.IF_NOT_PRESENT,
    "Always": kplus.ImagePullPolicy.ALWAYS,
    "Never": kplus.ImagePullPolicy.NEVER,
}
SERVICE_TYPES = {
    "ClusterIP": kplus.ServiceType.CLUSTER_IP,
    "NodePort": kplus.ServiceType.NODE_PORT,
    "LoadBalancer": kplus.ServiceType.LOAD_BALANCER,
}

READINESS_FAILURES = 3
LIVENESS_FAILURES = 5
"""Failure thresholds used when ``probes.readiness`` or ``probes.liveness`` has none."""

ROLLOUT_MARGIN_SECONDS = 120
"""Seconds a rollout may take beyond the startup probe's budget."""

GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}

# Labels that PCAI's admission rules require on every pod that requests GPUs.
EZUA_TYPE = "vendor-service"


def _quantities(resources: dict[str, str]) -> dict[str, k8s.Quantity]:
    """Wrap quantities in k8s.Quantity: the typed toJson of kplus objects drops plain
    strings in Quantity fields without a word, so JSON patches must carry these."""
    return {name: k8s.Quantity.from_string(value) for name, value in resources.items()}


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value not in (None, [], {})}


def pod_security_context(values: Values) -> dict[str, Any]:
    """Return the pod security context of the settings, without unset fields."""
    context = values.pod_security_context.model_dump(by_alias=True, exclude_none=True)
    return _drop_none(context)


def container_security_context(values: Values) -> dict[str, Any]:
    """Return the container security context of the settings, without unset fields."""
    context = values.security_context.model_dump(by_alias=True, exclude_none=True)
    capabilities = _drop_none(context.pop("capabilities", {}))
    context = _drop_none(context)
    if capabilities:
        context["capabilities"] = capabilities
    return context


def shares_process_namespace(values: Values) -> bool:
    """Return whether the pod shares one PID namespace, so the pause container is PID 1.

    ``llamafactory-cli webui`` (Gradio) installs no SIGTERM handler, and the kernel
    drops a default-action signal sent to a PID namespace's init. As PID 1 the board
    would ignore the kubelet's SIGTERM and wait out the grace period for SIGKILL on
    every rollout or drain. In a shared namespace the pause container is PID 1 and
    reaps the orphans of the board's ``llamafactory-cli train`` runs, and the board
    dies on SIGTERM by default. API mode keeps its own namespace, because uvicorn
    handles SIGTERM as PID 1 and starts no training runs. Sharing would only expose
    its ``API_KEY`` and ``HF_TOKEN`` in ``/proc/<pid>/environ`` to the pod's other
    containers (an injected sidecar), guarded by nothing but UIDs and capabilities.
    """
    return values.mode == "webui"


class LlamaFactoryWorkload(Construct):
    """The LLaMA Factory Deployment and its Service, in ``webui`` or ``api`` mode.

    One pod with the ``Recreate`` strategy, because the claims are ReadWriteOnce: a
    rolling update would start the new pod before the old one releases them. The
    container, the Service and every probe use the port of the chosen mode.

    cdk8s-plus defaults are never inherited: replicas, pull policy, security
    contexts and resources are stated here. Settings cdk8s-plus cannot express
    (extended resources such as ``nvidia.com/gpu``, seccomp, tolerations as written,
    ``hostIPC``, several pull secrets) are JSON patches on the Deployment. The pod
    template carries no ``cdk8s.io/metadata.addr`` label, and the selector uses only
    the release's ``app.kubernetes.io`` labels, so renaming a construct never
    touches the immutable selector.

    Args:
        values: the release's settings; ``mode: api`` without ``api.model`` is
            rejected.
        names: names and labels of the release.
        storage: the volumes to mount.
        shm: the ``/dev/shm`` volume, or None for none.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        values: Values,
        names: ReleaseNames,
        storage: StorageConstruct,
        shm: ShmVolume | None = None,
    ) -> None:
        super().__init__(scope, id)

        if values.mode == "api" and not values.api.model:
            raise ConstructError("mode='api' needs api.model: the API cannot start without a model to serve")
        self.values = values
        self.names = names
        self.port = values.container_port
        self.pod_labels = self._pod_labels()

        self.secrets: list[kplus.Secret] = []
        container = self._container_props()
        self.deployment = kplus.Deployment(
            self,
            "deployment",
            metadata=cdk8s.ApiObjectMetadata(name=names.fullname, labels=self._labels()),
            replicas=values.replica_count,
            # A rollout may take as long as the startup probe allows, plus a margin,
            # because the Kubernetes default of 600 s would report a slow model load as failed.
            progress_deadline=cdk8s.Duration.seconds(
                max(
                    STARTUP_BUDGET_FLOOR_SECONDS,
                    values.probes.startup.period_seconds * values.startup_failure_threshold + ROLLOUT_MARGIN_SECONDS,
                )
            ),
            min_ready=cdk8s.Duration.seconds(0),
            strategy=kplus.DeploymentStrategy.recreate(),
            select=False,
            pod_metadata=cdk8s.ApiObjectMetadata(
                labels=self.pod_labels, annotations=dict(values.pod_annotations) or None
            ),
            automount_service_account_token=False,
            security_context=kplus.PodSecurityContextProps(ensure_non_root=values.runs_as_non_root),
            host_network=False,
            containers=[container],
        )
        self.deployment.select(kplus.LabelSelector.of(labels=names.selector_labels))
        self.container = self.deployment.containers[0]

        if shm is not None:
            shm.mount(self.container)
        for mount in storage.mounts:
            self.container.mount(mount.path, mount.volume, sub_path=mount.sub_path)
        tmp = kplus.Volume.from_empty_dir(self, "tmp", "tmp")
        self.container.mount(TMP_PATH, tmp)

        self._patch_pod_spec(shm)

        self.service = kplus.Service(
            self,
            "service",
            metadata=cdk8s.ApiObjectMetadata(name=names.fullname, labels=self._labels()),
            type=SERVICE_TYPES[values.service.type],
            ports=[
                kplus.ServicePort(
                    name=PORT_NAME,
                    port=values.service_port,
                    target_port=self.port,
                    protocol=kplus.Protocol.TCP,
                )
            ],
        )
        for key, value in names.selector_labels.items():
            self.service.select_label(key, value)
        # Target the container's named port, so the Service follows the mode's port.
        cdk8s.ApiObject.of(self.service).add_json_patch(
            cdk8s.JsonPatch.replace("/spec/ports/0/targetPort", k8s.IntOrString.from_string(PORT_NAME))
        )
        cdk8s.ApiObject.of(self.service).add_json_patch(cdk8s.JsonPatch.remove("/spec/externalIPs"))

    # --- labels -------------------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return {**self.names.labels, "app.kubernetes.io/component": self.values.mode}

    def _pod_labels(self) -> dict[str, str]:
        extra = {**self.values.ezua.kyverno.labels, **self.values.pod_labels}
        return {
            **extra,
            **self._labels(),
            # PCAI rejects GPU pods without non-empty hpe-ezua/app and
            # hpe-ezua/component labels on the pod itself.
            "hpe-ezua/app": self.names.name,
            "hpe-ezua/component": self.values.mode,
            "hpe-ezua/type": EZUA_TYPE,
        }

    # --- container ------------------------------------------------------------------------

    def _container_props(self) -> kplus.ContainerProps:
        values = self.values
        probe_path = PROBE_PATHS[values.mode]

        def probe(period: int, failures: int, timeout: int) -> kplus.Probe:
            return kplus.Probe.from_http_get(
                probe_path,
                port=self.port,
                scheme=kplus.ConnectionScheme.HTTP,
                period_seconds=cdk8s.Duration.seconds(period),
                failure_threshold=failures,
                success_threshold=1,
                timeout_seconds=cdk8s.Duration.seconds(timeout),
                initial_delay_seconds=cdk8s.Duration.seconds(0),
            )

        probes = values.probes
        context = values.security_context
        return kplus.ContainerProps(
            name=CONTAINER_NAME,
            image=values.image.reference(),
            image_pull_policy=PULL_POLICIES[values.image.pull_policy],
            command=self._command(),
            args=self._args() or None,
            working_dir=WORKING_DIR,
            ports=[kplus.ContainerPort(number=self.port, name=PORT_NAME, protocol=kplus.Protocol.TCP)],
            env_variables=self._env(),
            startup=probe(probes.startup.period_seconds, values.startup_failure_threshold, probes.startup.timeout_seconds),
            readiness=probe(
                probes.readiness.period_seconds, probes.readiness.failure_threshold or READINESS_FAILURES, probes.readiness.timeout_seconds
            ),
            liveness=probe(
                probes.liveness.period_seconds, probes.liveness.failure_threshold or LIVENESS_FAILURES, probes.liveness.timeout_seconds
            ),
            # Resources and the full security context are patched in below; these
            # explicit values stop kplus from adding its own defaults.
            resources=kplus.ContainerResources(),
            security_context=kplus.ContainerSecurityContextProps(
                ensure_non_root=values.runs_as_non_root,
                privileged=context.privileged,
                read_only_root_filesystem=context.read_only_root_filesystem,
                allow_privilege_escalation=context.allow_privilege_escalation,
            ),
        )

    def _command(self) -> list[str]:
        return ["llamafactory-cli", self.values.mode]

    def _args(self) -> list[str]:
        api = self.values.api
        if self.values.mode != "api":
            return []
        arguments: dict[str, Any] = {
            "model_name_or_path": api.model,
            "template": api.template,
            "infer_backend": api.infer_backend,
            "adapter_name_or_path": api.adapter,
            # Sorted, so the order never depends on how the values file was written.
            **dict(sorted(api.extra_args.items())),
        }
        args: list[str] = []
        for key, value in arguments.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (int, float)):
                value = number_string(value)
            args += [f"--{key}", value]
        return args

    def _env(self) -> dict[str, kplus.EnvValue]:
        values = self.values
        env: dict[str, kplus.EnvValue] = {}

        if values.mode == "webui":
            env["GRADIO_SERVER_NAME"] = kplus.EnvValue.from_value(values.gradio.server_name)
            env["GRADIO_SERVER_PORT"] = kplus.EnvValue.from_value(str(values.gradio.server_port))
            env["GRADIO_ANALYTICS_ENABLED"] = kplus.EnvValue.from_value("False")
        else:
            env["API_HOST"] = kplus.EnvValue.from_value("0.0.0.0")
            env["API_PORT"] = kplus.EnvValue.from_value(str(values.api.port))
            api_key = self._secret_value(
                "api-key", values.api.api_key, values.api.existing_secret, values.api.existing_secret_key
            )
            if api_key is not None:
                env["API_KEY"] = api_key

        env["HF_HOME"] = kplus.EnvValue.from_value(values.hf_cache_mount_path)
        if values.huggingface.offline:
            env["HF_HUB_OFFLINE"] = kplus.EnvValue.from_value("1")
        if values.huggingface.endpoint:
            env["HF_ENDPOINT"] = kplus.EnvValue.from_value(values.huggingface.endpoint)
        token = self._secret_value(
            "hf-token",
            values.huggingface.token,
            values.huggingface.existing_secret,
            values.huggingface.existing_secret_key,
        )
        if token is not None:
            env["HF_TOKEN"] = token
        # Libraries cache under ~ (Triton kernels, torch extensions, matplotlib). The
        # root filesystem is read-only by default and a non-root user has no home in
        # the upstream image, so ~ is the writable /tmp volume.
        env["HOME"] = kplus.EnvValue.from_value(TMP_PATH)

        for variable in values.extra_env:
            env[variable.name] = kplus.EnvValue.from_value(variable.value)
        return env

    def _secret_value(
        self, suffix: str, literal: str, existing: str | None, key: str
    ) -> kplus.EnvValue | None:
        """Return an env value read from a Secret: an existing one, or one created here.

        A created Secret stores the value under ``key`` too, which is the
        ``existingSecretKey`` setting, so switching to an existing Secret keeps the key.
        """
        if existing is not None:
            secret = kplus.Secret.from_secret_name(self, f"{suffix}-existing", existing)
        elif literal:
            secret = kplus.Secret(
                self,
                f"{suffix}-secret",
                metadata=cdk8s.ApiObjectMetadata(
                    name=self.names.object_name(suffix), labels=self._labels()
                ),
                string_data={key: literal},
                immutable=False,
            )
            self.secrets.append(secret)
        else:
            return None
        return kplus.EnvValue.from_secret_value(kplus.SecretValue(secret=secret, key=key), optional=False)

    # --- what kplus cannot express ---------------------------------------------------------

    def _patch_pod_spec(self, shm: ShmVolume | None) -> None:
        values = self.values
        deployment = cdk8s.ApiObject.of(self.deployment)
        spec = "/spec/template/spec"
        container = f"{spec}/containers/0"

        def add(path: str, value: Any) -> None:
            deployment.add_json_patch(cdk8s.JsonPatch.add(path, value))

        # The pod template must not depend on the construct path.
        deployment.add_json_patch(cdk8s.JsonPatch.remove("/spec/template/metadata/labels/cdk8s.io~1metadata.addr"))

        add(
            f"{container}/resources",
            {
                "requests": _quantities(values.resources.effective_requests),
                "limits": _quantities(values.resources.effective_limits),
            },
        )
        add(f"{container}/securityContext", container_security_context(values))
        add(f"{spec}/securityContext", pod_security_context(values))
        # The typed toJson reads its own property name, hostIpc, and writes hostIPC.
        add(f"{spec}/hostIpc", values.host_ipc)
        add(f"{spec}/enableServiceLinks", False)
        add(f"{spec}/shareProcessNamespace", shares_process_namespace(values))

        tolerations = [toleration.model_dump(by_alias=True, exclude_none=True) for toleration in values.tolerations]
        if values.resources.gpus > 0 and not any(t.get("key") == GPU_RESOURCE for t in tolerations):
            tolerations.append(dict(GPU_TOLERATION))
        if tolerations:
            add(f"{spec}/tolerations", tolerations)
        if values.node_selector:
            add(f"{spec}/nodeSelector", dict(values.node_selector))
        if values.affinity:
            add(f"{spec}/affinity", dict(values.affinity))
        if values.image_pull_secrets:
            add(f"{spec}/imagePullSecrets", [{"name": secret.name} for secret in values.image_pull_secrets])

        if shm is not None:
            # The shm volume is the first one mounted; write its size as given in GiB.
            add(f"{spec}/volumes/0/emptyDir/sizeLimit", k8s.Quantity.from_string(shm.size_limit))
