"""TrainingRun: ``llamafactory-cli train`` as a Job, an Indexed Job or a Kubeflow PyTorchJob.

The training arguments are written to ``train.yaml`` in a ConfigMap, and every pod
runs ``llamafactory-cli train /etc/llamafactory/train.yaml``. LLaMA Factory 0.9
(``src/llamafactory/cli.py`` in 0.9.2, ``launcher.py`` in 0.9.5) launches torchrun when
``FORCE_TORCHRUN`` is set or it detects more than one GPU, and passes it ``NNODES``,
``NODE_RANK``, ``NPROC_PER_NODE``, ``MASTER_ADDR`` and ``MASTER_PORT``. It reads
``NODE_RANK``, not ``RANK``. Each engine provides that contract:

- one node, a Job: ``FORCE_TORCHRUN=1`` and ``NPROC_PER_NODE`` when the node has more
  than one GPU, nothing otherwise;
- an Indexed Job with a headless Service: ``NODE_RANK`` from the pod's
  ``batch.kubernetes.io/job-completion-index`` annotation, and ``MASTER_ADDR`` the DNS
  name of pod 0, ``<job>-0.<service>``;
- a Kubeflow ``PyTorchJob``: the training operator (v1.9) appends ``MASTER_ADDR``,
  ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``PET_NODE_RANK``, ``PET_NNODES`` and
  ``PET_NPROC_PER_NODE`` to the container's env. It sets no ``NODE_RANK``, and a
  ``$(PET_NODE_RANK)`` reference in our env would not expand, because the operator's
  entries come after ours. A shell therefore exports ``NODE_RANK=$PET_NODE_RANK``
  before it starts the CLI.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import cdk8s
from constructs import Construct

from .naming import ReleaseNames, truncate
from .shm import SHM_PATH, ShmVolume
from .storage import StorageConstruct
from .values import GPU_RESOURCE, Values, number_string
from .workload import (
    EZUA_TYPE,
    GPU_TOLERATION,
    TMP_PATH,
    WORKING_DIR,
    container_security_context,
    pod_security_context,
)

CONFIG_DIR = "/etc/llamafactory"
CONFIG_FILE = "train.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"

COMPONENT = "training"

HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"

MAX_JOB_NAME_LENGTH = 52
"""Maximum length of a training object's name. The training operator names pods and Services
``<job>-worker-<index>``, and an Indexed Job's pods get the host name
``<job>-<index>``, and both must stay within a 63-character DNS label."""

PYTORCH_CONTAINER = "pytorch"
PYTORCH_PORT_NAME = "pytorchjob-port"
"""The container and port names that the training operator v1.9 looks up: it rejects a
PyTorchJob without a container named ``pytorch``, and takes ``MASTER_PORT`` from the
port named ``pytorchjob-port``."""

JOB_CONTAINER = "train"

COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

CONFIG_HEADER = "# llamafactory-cli train arguments, generated from the chart's training.args."

# A shell fails with this message when the operator did not set PET_NODE_RANK.
PYTORCHJOB_SCRIPT = (
    'export NODE_RANK="${PET_NODE_RANK:?PET_NODE_RANK is unset; run this pod from a Kubeflow PyTorchJob}"\n'
    f"exec llamafactory-cli train {CONFIG_PATH}\n"
)

HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_string(value: str) -> str:
    """Quote ``value`` as Go's ``encoding/json`` (Helm's ``toJson``) does, so both
    renderers write the same bytes; JSON strings are YAML double-quoted scalars."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(HTML_ESCAPES.get(character, character) for character in text)


def yaml_number(value: int | float) -> str:
    """Write a number that PyYAML, which LLaMA Factory reads its config with, reads back
    as a number: YAML 1.1 reads ``1e-05`` as a string, so a mantissa without a dot
    gets ``.0`` (``1.0e-05``)."""
    return re.sub(r"^(-?[0-9]+)e", r"\1.0e", number_string(value))


def yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return yaml_number(value)
    return json_string(str(value))


def training_name(names: ReleaseNames, run_name: str) -> str:
    """Return ``<fullname>-train-<runName>`` within MAX_JOB_NAME_LENGTH characters."""
    suffix = f"train-{run_name}"
    return f"{truncate(names.fullname, MAX_JOB_NAME_LENGTH - len(suffix) - 1)}-{suffix}"


def training_selector_labels(names: ReleaseNames) -> dict[str, str]:
    """Return the labels that select a release's training pods.

    ``app.kubernetes.io/name`` differs from the app's (``<name>-training``), because the
    app's Service and NetworkPolicy select ``name`` and ``instance`` only: training pods
    with the app's labels would receive the app's traffic, and the policy would drop
    the traffic between training nodes.
    """
    return {
        "app.kubernetes.io/name": truncate(f"{names.name}-{COMPONENT}"),
        "app.kubernetes.io/instance": truncate(names.release),
    }


def training_affinity(values: Values, names: ReleaseNames) -> dict[str, Any]:
    """Return the training pods' affinity: ``affinity``, plus a required podAffinity to
    the app pod when both mount a ReadWriteOnce claim.

    A ReadWriteOnce volume attaches to one node at a time. On block storage a pod on
    another node would wait for ever on a Multi-Attach error, so the training pod is
    scheduled onto the app pod's node, and stays Pending until that node has room.
    """
    affinity = copy.deepcopy(dict(values.affinity))
    if values.training_shares_read_write_once:
        pod_affinity = affinity.setdefault("podAffinity", {})
        terms = pod_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
        terms.append({"labelSelector": {"matchLabels": names.selector_labels}, "topologyKey": HOSTNAME_TOPOLOGY_KEY})
    return affinity


def output_dir(values: Values) -> str:
    """Return where checkpoints go: ``<output mount path>/<runName>``."""
    return f"{(values.persistence.output.mount_path or '').rstrip('/')}/{values.training.run_name}"


def training_arguments(values: Values) -> dict[str, Any]:
    """Return the arguments of ``llamafactory-cli train`` in the order they are written."""
    args = values.training.args
    arguments: dict[str, Any] = {
        "model_name_or_path": args.model,
        "stage": args.stage,
        "do_train": True,
        "finetuning_type": args.finetuning_type,
    }
    if args.finetuning_type == "lora":
        arguments["lora_rank"] = args.lora_rank
        arguments["lora_target"] = args.lora_target

    arguments["dataset"] = args.dataset
    arguments["dataset_dir"] = args.dataset_dir
    if args.template is not None:
        arguments["template"] = args.template
    arguments["cutoff_len"] = args.cutoff_len
    if args.max_samples is not None:
        arguments["max_samples"] = args.max_samples

    arguments["output_dir"] = output_dir(values)
    arguments["logging_steps"] = args.logging_steps
    arguments["save_steps"] = args.save_steps
    arguments["per_device_train_batch_size"] = args.per_device_train_batch_size
    arguments["gradient_accumulation_steps"] = args.gradient_accumulation_steps
    arguments["learning_rate"] = args.learning_rate
    arguments["num_train_epochs"] = args.num_train_epochs
    if args.max_steps is not None:
        arguments["max_steps"] = args.max_steps
    if args.precision != "fp32":
        arguments[args.precision] = True

    # Without a GPU, transformers 5 (LLaMA Factory 0.9.5) rejects bf16 unless
    # use_cpu is set: "Your setup doesn't support bf16/gpu". extraArgs may set it.
    if values.training.gpus_per_node == 0 and "use_cpu" not in args.extra_args:
        arguments["use_cpu"] = True
    # transformers reports to every tracker it finds installed, and wandb would ask
    # for a login; extraArgs may name one.
    if "report_to" not in args.extra_args:
        arguments["report_to"] = "none"

    arguments.update(sorted(args.extra_args.items()))
    return arguments


def render_training_config(values: Values) -> str:
    """Return the ``train.yaml`` that the training pods pass to ``llamafactory-cli train``.

    Strings are JSON-quoted and numbers written as Helm prints them, so the chart's
    template writes the same text.
    """
    lines = [f"{key}: {yaml_scalar(value)}" for key, value in training_arguments(values).items()]
    return "\n".join([CONFIG_HEADER, *lines]) + "\n"


def training_env(values: Values, *, engine: str, job_name: str) -> list[dict[str, Any]]:
    """Return the torchrun variables of an engine (``job``, ``indexedJob`` or ``pytorchjob``)."""
    training = values.training
    env: list[dict[str, Any]] = []
    if training.uses_torchrun:
        env.append({"name": "FORCE_TORCHRUN", "value": "1"})
        env.append({"name": "NPROC_PER_NODE", "value": str(training.processes_per_node)})
    if engine == "job":
        return env

    env.append({"name": "NNODES", "value": str(training.nodes)})
    if engine == "indexedJob":
        env.append(
            {
                "name": "NODE_RANK",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}},
            }
        )
        env.append({"name": "MASTER_ADDR", "value": f"{job_name}-0.{job_name}"})
        env.append({"name": "MASTER_PORT", "value": str(training.master_port)})
    return env


class TrainingRun(Construct):
    """A fine-tuning run of LLaMA Factory, from ``values.training``.

    Creates a ConfigMap with ``train.yaml`` and, by ``training.nodes`` and
    ``training.engine``, a Job (one node), an Indexed Job with a headless Service, or a
    Kubeflow ``PyTorchJob`` (kubeflow.org/v1) with one Master and ``nodes - 1``
    Workers. The pods use the release's image, the model cache, data and output
    claims, ``/dev/shm``, the Hugging Face settings and Secrets, ``extraEnv``, the
    security contexts and the scheduling settings, and their own
    ``training.resources``. They carry the ``hpe-ezua/*`` labels that PCAI's GPU
    admission rule requires, and labels of their own (:func:`training_selector_labels`)
    that the app's Service does not select. Nothing depends on the construct path.

    Args:
        values: the release's settings; ``training.enabled`` must be true.
        names: names and labels of the release.
        storage: the release's volumes; the training pods mount the same claims.
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

        training = values.training
        self.values = values
        self.names = names
        self.name = training_name(names, training.run_name)
        self.labels = {**names.labels, "app.kubernetes.io/component": COMPONENT}
        self.config_text = render_training_config(values)

        self.config_map = cdk8s.ApiObject(
            self,
            "config",
            api_version="v1",
            kind="ConfigMap",
            metadata=cdk8s.ApiObjectMetadata(name=self.name, labels=self.labels),
        )
        self.config_map.add_json_patch(cdk8s.JsonPatch.add("/data", {CONFIG_FILE: self.config_text}))

        self.job: cdk8s.ApiObject | None = None
        self.pytorch_job: cdk8s.ApiObject | None = None
        self.service: cdk8s.ApiObject | None = None
        kind = training.kind
        if kind == "pytorchjob":
            self._pytorch_job(storage, shm)
        else:
            self._job(kind, storage, shm)

    # --- pods --------------------------------------------------------------------------

    def _pod_labels(self) -> dict[str, str]:
        values = self.values
        extra = {**values.ezua.kyverno.labels, **values.pod_labels}
        return {
            **extra,
            **self.labels,
            **training_selector_labels(self.names),
            "hpe-ezua/app": self.names.name,
            "hpe-ezua/component": COMPONENT,
            "hpe-ezua/type": EZUA_TYPE,
        }

    def _volumes(self, storage: StorageConstruct, shm: ShmVolume | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Return the pod's volumes and the container's mounts."""
        values = self.values
        persistence = values.persistence
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        if shm is not None:
            volumes.append({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm.size_limit}})
            mounts.append({"name": "shm", "mountPath": SHM_PATH})
        claims = (
            ("hf-cache", persistence.hf_cache, values.hf_cache_mount_path),
            ("data", persistence.data, persistence.data.mount_path or ""),
            ("output", persistence.output, persistence.output.mount_path or ""),
        )
        for key, claim, path in claims:
            if not claim.enabled:
                volumes.append({"name": key, "emptyDir": {}})
            else:
                created = storage.claims.get(key)
                claim_name = created.name if created is not None else claim.existing_claim
                volumes.append({"name": key, "persistentVolumeClaim": {"claimName": claim_name, "readOnly": False}})
            mounts.append({"name": key, "mountPath": path})
        volumes.append({"name": "tmp", "emptyDir": {}})
        mounts.append({"name": "tmp", "mountPath": TMP_PATH})
        volumes.append({"name": "training-config", "configMap": {"name": self.name}})
        mounts.append({"name": "training-config", "mountPath": CONFIG_DIR, "readOnly": True})
        return volumes, mounts

    def _env(self, engine: str) -> list[dict[str, Any]]:
        values = self.values
        huggingface = values.huggingface
        env: list[dict[str, Any]] = [{"name": "HF_HOME", "value": values.hf_cache_mount_path}]
        if huggingface.offline:
            env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
        if huggingface.endpoint:
            env.append({"name": "HF_ENDPOINT", "value": huggingface.endpoint})
        if huggingface.existing_secret is not None or huggingface.token:
            secret = huggingface.existing_secret or self.names.object_name("hf-token")
            env.append(
                {
                    "name": "HF_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": huggingface.existing_secret_key, "optional": False}},
                }
            )
        # Libraries cache under ~, and the root filesystem is read-only by default.
        env.append({"name": "HOME", "value": TMP_PATH})
        env += training_env(values, engine=engine, job_name=self.name)
        env += [{"name": variable.name, "value": variable.value} for variable in values.extra_env]
        return env

    def _container(self, engine: str, storage: StorageConstruct, shm: ShmVolume | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        values = self.values
        resources = values.training.resources
        volumes, mounts = self._volumes(storage, shm)
        container: dict[str, Any] = {
            "name": PYTORCH_CONTAINER if engine == "pytorchjob" else JOB_CONTAINER,
            "image": values.image.reference(),
            "imagePullPolicy": values.image.pull_policy,
            "workingDir": WORKING_DIR,
        }
        if engine == "pytorchjob":
            container["command"] = ["/bin/sh", "-c", PYTORCHJOB_SCRIPT]
            container["ports"] = [
                {"name": PYTORCH_PORT_NAME, "containerPort": values.training.master_port, "protocol": "TCP"}
            ]
        else:
            container["command"] = ["llamafactory-cli", "train", CONFIG_PATH]
        container["env"] = self._env(engine)
        container["resources"] = {
            "requests": resources.effective_requests,
            "limits": resources.effective_limits,
        }
        container["securityContext"] = container_security_context(values)
        container["volumeMounts"] = mounts
        return container, volumes

    def _pod_template(self, engine: str, storage: StorageConstruct, shm: ShmVolume | None) -> dict[str, Any]:
        values = self.values
        container, volumes = self._container(engine, storage, shm)
        metadata: dict[str, Any] = {"labels": self._pod_labels()}
        if values.pod_annotations:
            metadata["annotations"] = dict(values.pod_annotations)
        spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostIPC": values.host_ipc,
            "securityContext": pod_security_context(values),
            "containers": [container],
            "volumes": volumes,
        }
        if engine == "indexedJob":
            spec["subdomain"] = self.name
        tolerations = [toleration.model_dump(by_alias=True, exclude_none=True) for toleration in values.tolerations]
        if values.training.gpus_per_node > 0 and not any(t.get("key") == GPU_RESOURCE for t in tolerations):
            tolerations.append(dict(GPU_TOLERATION))
        if tolerations:
            spec["tolerations"] = tolerations
        if values.node_selector:
            spec["nodeSelector"] = dict(values.node_selector)
        affinity = training_affinity(values, self.names)
        if affinity:
            spec["affinity"] = affinity
        if values.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": secret.name} for secret in values.image_pull_secrets]
        return {"metadata": metadata, "spec": spec}

    # --- workloads -----------------------------------------------------------------------

    def _job(self, engine: str, storage: StorageConstruct, shm: ShmVolume | None) -> None:
        nodes = self.values.training.nodes
        self.job = cdk8s.ApiObject(
            self,
            "job",
            api_version="batch/v1",
            kind="Job",
            metadata=cdk8s.ApiObjectMetadata(name=self.name, labels=self.labels),
        )
        spec: dict[str, Any] = {
            "completionMode": "Indexed" if engine == "indexedJob" else "NonIndexed",
            "completions": nodes,
            "parallelism": nodes,
            "backoffLimit": self.values.training.backoff_limit,
            "template": self._pod_template(engine, storage, shm),
        }
        self.job.add_json_patch(cdk8s.JsonPatch.add("/spec", spec))
        if engine != "indexedJob":
            return

        # Pod i of an Indexed Job is named <job>-<i>, and with this headless Service as
        # its subdomain it resolves as <job>-<i>.<service>. Addresses are published
        # before readiness, because the training pods have no readiness probe to pass.
        self.service = cdk8s.ApiObject(
            self,
            "service",
            api_version="v1",
            kind="Service",
            metadata=cdk8s.ApiObjectMetadata(name=self.name, labels=self.labels),
        )
        self.service.add_json_patch(
            cdk8s.JsonPatch.add(
                "/spec",
                {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": training_selector_labels(self.names),
                    "ports": [
                        {
                            "name": "torchrun",
                            "port": self.values.training.master_port,
                            "targetPort": self.values.training.master_port,
                            "protocol": "TCP",
                        }
                    ],
                },
            )
        )

    def _pytorch_job(self, storage: StorageConstruct, shm: ShmVolume | None) -> None:
        training = self.values.training
        template = self._pod_template("pytorchjob", storage, shm)
        self.pytorch_job = cdk8s.ApiObject(
            self,
            "pytorch-job",
            api_version="kubeflow.org/v1",
            kind="PyTorchJob",
            metadata=cdk8s.ApiObjectMetadata(name=self.name, labels=self.labels),
        )
        replica = {"restartPolicy": "Never", "template": template}
        spec = {
            # The operator computes WORLD_SIZE as replicas × nprocPerNode.
            "nprocPerNode": str(training.processes_per_node),
            "runPolicy": {"backoffLimit": training.backoff_limit, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, **replica},
                "Worker": {"replicas": training.nodes - 1, **replica},
            },
        }
        self.pytorch_job.add_json_patch(cdk8s.JsonPatch.add("/spec", spec))


def synth_training(values: Values) -> list[dict[str, Any]]:
    """Synthesize a release and return its training objects: the ConfigMap, then the
    Job or PyTorchJob, then the Indexed Job's Service when there is one.

    For tests and tools that run a training config elsewhere (a test cluster, a local
    ``llamafactory-cli train``); ``values.training.enabled`` must be true.
    """
    from .chart import LlamaFactoryChart  # the chart imports this module

    if not values.training.enabled:
        raise ValueError("training.enabled is false, so the release has no training objects; set it to true")
    app = cdk8s.App()
    chart = LlamaFactoryChart(app, "release", values=values)
    training = chart.training
    assert training is not None
    objects = [training.config_map, training.job or training.pytorch_job, training.service]
    return [item.to_json() for item in objects if item is not None]
