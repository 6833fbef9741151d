"""Tests of TrainingRun: the training ConfigMap, Job, Indexed Job and PyTorchJob."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from conftest import env_of, of_kind, only, synth
from llamafactory_cdk8s import SettingsError, render_training_config, synth_training, values_from_mapping

GPU = "nvidia.com/gpu"
ARGS = {"model": "Qwen/Qwen2.5-0.5B-Instruct", "dataset": "alpaca_en_demo", "template": "qwen"}
RWX = {"persistence": {name: {"accessMode": "ReadWriteMany"} for name in ("hfCache", "data", "output")}}
JOB_NAME = "llamafactory-train-run1"
CONFIG_COMMAND = ["llamafactory-cli", "train", "/etc/llamafactory/train.yaml"]


def training(nodes: int = 1, engine: str = "pytorchjob", gpus: int = 1, **extra: Any) -> dict[str, Any]:
    """Return settings with a training run on ``nodes`` nodes of ``gpus`` GPUs each."""
    run = {"enabled": True, "nodes": nodes, "engine": engine, "resources": {"limits": {GPU: gpus}}, "args": ARGS}
    return {"training": {**run, **extra}, **(RWX if nodes > 1 else {})}


def pod_templates(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return the training pod templates by role: ``job``, or ``Master`` and ``Worker``."""
    jobs = [job for job in of_kind(manifests, "Job") if job["metadata"]["name"] == JOB_NAME]
    if jobs:
        return {"job": jobs[0]["spec"]["template"]}
    replicas = only(manifests, "PyTorchJob")["spec"]["pytorchReplicaSpecs"]
    return {role: replica["template"] for role, replica in replicas.items()}


def container_of(template: dict[str, Any]) -> dict[str, Any]:
    (container,) = template["spec"]["containers"]
    return container


# --- off by default --------------------------------------------------------------------------


def test_defaults_create_no_training():
    manifests = synth()

    assert not [m for m in manifests if "train" in m["metadata"]["name"]]
    assert not of_kind(manifests, "ConfigMap")


# --- snapshots --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "settings"),
    [
        ("job-1-node", training()),
        ("job-2-gpus", training(gpus=2)),
        ("pytorchjob-2-nodes", training(nodes=2)),
        ("indexed-job-4-nodes", training(nodes=4, engine="indexedJob", gpus=8)),
    ],
)
def test_training_objects_snapshot(case, settings, snapshot):
    objects = synth_training(values_from_mapping(settings))

    assert objects == snapshot
    assert objects[0]["kind"] == "ConfigMap"


# --- one node ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["pytorchjob", "indexedJob"])
def test_one_gpu_job_runs_cli_without_torchrun(engine):
    manifests = synth(training(engine=engine))

    job = only([m for m in of_kind(manifests, "Job") if m["metadata"]["name"] == JOB_NAME], "Job")
    container = container_of(job["spec"]["template"])
    env = env_of(container)

    assert job["spec"]["completionMode"] == "NonIndexed"
    assert job["spec"]["completions"] == 1
    assert job["spec"]["parallelism"] == 1
    assert container["command"] == CONFIG_COMMAND
    assert "FORCE_TORCHRUN" not in env
    assert "NNODES" not in env
    assert "NODE_RANK" not in env
    assert container["resources"]["limits"][GPU] == "1"
    assert not of_kind(manifests, "PyTorchJob")


def test_two_gpu_job_forces_torchrun():
    env = env_of(container_of(pod_templates(synth(training(gpus=2)))["job"]))

    assert env["FORCE_TORCHRUN"] == "1"
    assert env["NPROC_PER_NODE"] == "2"
    assert "NNODES" not in env
    assert "MASTER_ADDR" not in env


def test_cpu_job_runs_one_process():
    container = container_of(pod_templates(synth(training(gpus=0)))["job"])

    assert "FORCE_TORCHRUN" not in env_of(container)
    assert GPU not in container["resources"]["limits"]


# --- several nodes: PyTorchJob ----------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [2, 4])
def test_pytorchjob_replicas_and_env(nodes):
    manifests = synth(training(nodes=nodes, gpus=4))

    job = only(manifests, "PyTorchJob")
    replicas = job["spec"]["pytorchReplicaSpecs"]

    assert job["apiVersion"] == "kubeflow.org/v1"
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] == nodes - 1
    assert job["spec"]["nprocPerNode"] == "4"
    for role, template in pod_templates(manifests).items():
        container = container_of(template)
        env = env_of(container)
        assert container["name"] == "pytorch", role
        assert container["ports"] == [{"name": "pytorchjob-port", "containerPort": 29500, "protocol": "TCP"}], role
        assert env["FORCE_TORCHRUN"] == "1", role
        assert env["NNODES"] == str(nodes), role
        assert env["NPROC_PER_NODE"] == "4", role
        # The training operator sets MASTER_ADDR, MASTER_PORT and PET_NODE_RANK.
        assert "MASTER_ADDR" not in env, role
        assert "MASTER_PORT" not in env, role
        assert "NODE_RANK" not in env, role


def test_pytorchjob_command_maps_node_rank():
    container = container_of(pod_templates(synth(training(nodes=2)))["Master"])

    shell, flag, script = container["command"]

    assert (shell, flag) == ("/bin/sh", "-c")
    assert 'export NODE_RANK="${PET_NODE_RANK:?' in script
    assert script.rstrip().endswith("exec llamafactory-cli train /etc/llamafactory/train.yaml")


# --- several nodes: Indexed Job ---------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [2, 4])
def test_indexed_job_env_and_service(nodes):
    manifests = synth(training(nodes=nodes, engine="indexedJob", gpus=2, masterPort=29600))

    job = only([m for m in of_kind(manifests, "Job") if m["metadata"]["name"] == JOB_NAME], "Job")
    pod = job["spec"]["template"]
    container = container_of(pod)
    env = env_of(container)
    service = only([m for m in of_kind(manifests, "Service") if m["metadata"]["name"] == JOB_NAME], "Service")

    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == nodes
    assert job["spec"]["parallelism"] == nodes
    assert pod["spec"]["subdomain"] == JOB_NAME
    assert container["command"] == CONFIG_COMMAND
    assert env["FORCE_TORCHRUN"] == "1"
    assert env["NNODES"] == str(nodes)
    assert env["NPROC_PER_NODE"] == "2"
    assert env["NODE_RANK"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
    }
    assert env["MASTER_ADDR"] == f"{JOB_NAME}-0.{JOB_NAME}"
    assert env["MASTER_PORT"] == "29600"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {
        key: pod["metadata"]["labels"][key] for key in service["spec"]["selector"]
    }


# --- labels, names, volumes --------------------------------------------------------------------------


def test_app_service_does_not_select_training_pods():
    manifests = synth(training(nodes=2, engine="indexedJob"))
    app_selector = only([m for m in of_kind(manifests, "Deployment")], "Deployment")["spec"]["selector"]["matchLabels"]

    labels = pod_templates(manifests)["job"]["metadata"]["labels"]

    assert any(labels.get(key) != value for key, value in app_selector.items())
    assert labels["hpe-ezua/app"] == "llamafactory"
    assert labels["hpe-ezua/component"] == "training"
    assert labels["hpe-ezua/type"] == "vendor-service"
    assert not any(key.startswith("cdk8s.io") for key in labels)


def test_names_derive_from_release_and_run():
    manifests = synth({"releaseName": "team-a", **training(runName="lr-sweep")})

    names = {m["metadata"]["name"] for m in manifests if m["metadata"]["labels"].get("app.kubernetes.io/component") == "training"}

    assert names == {"team-a-llamafactory-train-lr-sweep"}


def test_long_release_name_fits_worker_names():
    manifests = synth({"releaseName": "a" * 53, **training(nodes=2, runName="r" * 20)})

    name = only(manifests, "PyTorchJob")["metadata"]["name"]

    assert len(name) <= 52
    assert name.endswith("-train-" + "r" * 20)
    assert len(f"{name}-worker-255") <= 63


def test_training_mounts_claims_not_board_state():
    container = container_of(pod_templates(synth(training()))["job"])

    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}

    assert mounts["/app/output"] == "output"
    assert mounts["/app/custom_data"] == "data"
    assert mounts["/root/.cache/huggingface"] == "hf-cache"
    assert mounts["/etc/llamafactory"] == "training-config"
    assert "webui-state" not in mounts.values()


# --- train.yaml ------------------------------------------------------------------------------------


def test_config_carries_arguments_and_output_dir():
    values = values_from_mapping(training(args={**ARGS, "learningRate": 2e-5, "maxSteps": 3, "precision": "fp32"}))

    config = yaml.safe_load(render_training_config(values))

    assert config["model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert config["stage"] == "sft"
    assert config["finetuning_type"] == "lora"
    assert config["do_train"] is True
    assert config["output_dir"] == "/app/output/run1"
    assert config["learning_rate"] == pytest.approx(2e-5)
    assert isinstance(config["learning_rate"], float)
    assert config["max_steps"] == 3
    assert "bf16" not in config
    assert config["report_to"] == "none"


def test_config_extra_args_sorted_after_own():
    values = values_from_mapping(training(args={**ARGS, "extraArgs": {"val_size": 0.1, "lora_alpha": 16, "report_to": "tensorboard"}}))

    keys = list(yaml.safe_load(render_training_config(values)))

    assert keys[-3:] == ["lora_alpha", "report_to", "val_size"]
    assert keys.count("report_to") == 1


def test_config_full_finetuning_drops_lora_keys():
    values = values_from_mapping(training(args={**ARGS, "finetuningType": "full"}))

    config = yaml.safe_load(render_training_config(values))

    assert "lora_rank" not in config
    assert "lora_target" not in config


@pytest.mark.parametrize(("gpus", "extra_args", "expected"), [(0, {}, True), (1, {}, None), (0, {"use_cpu": False}, False)])
def test_config_use_cpu_without_gpus(gpus, extra_args, expected):
    values = values_from_mapping(training(gpus=gpus, args={**ARGS, "extraArgs": extra_args}))

    text = render_training_config(values)
    config = yaml.safe_load(text)

    assert config.get("use_cpu") is expected
    assert text.count("use_cpu:") == (0 if expected is None else 1)


def test_config_map_holds_rendered_config():
    values = values_from_mapping(training())

    config_map = synth_training(values)[0]

    assert config_map["data"]["train.yaml"] == render_training_config(values)


# --- invalid settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"training": {"enabled": True, "args": {"dataset": "d"}}}, "training.args.model"),
        ({"training": {"enabled": True, "args": {"model": "m"}}}, "training.args.dataset"),
        ({"training": {"enabled": True, "nodes": 2, "args": ARGS}}, "persistence.output.accessMode"),
        (
            {"training": {"enabled": True, "nodes": 2, "args": ARGS}, "persistence": {"output": {"accessMode": "ReadWriteMany"}}},
            "persistence.hfCache.accessMode",
        ),
        ({**training(), "extraEnv": [{"name": "NODE_RANK", "value": "1"}]}, "extraEnv[0].name"),
        (training(args={**ARGS, "extraArgs": {"output_dir": "/x"}}), "training.args.extraArgs"),
        (training(args={**ARGS, "extraArgs": {"hub_token": "x"}}), "training.args.extraArgs"),
        (training(args={**ARGS, "extraArgs": {"on": 1}}), "training.args.extraArgs"),
        (training(nodes=0), "training.nodes"),
        (training(runName="Run_1"), "training.runName"),
    ],
)
def test_invalid_training_settings_name_key(settings, key):
    with pytest.raises(SettingsError) as error:
        values_from_mapping(settings)

    assert any(problem.startswith(f"{key}: ") for problem in error.value.problems), error.value.problems


def test_rwo_error_says_why_and_fix():
    with pytest.raises(SettingsError, match="ReadWriteOnce cannot be shared by training.nodes: 2") as error:
        values_from_mapping({"training": {"enabled": True, "nodes": 2, "args": ARGS}})

    assert "set persistence.output.accessMode: ReadWriteMany" in str(error.value)
    assert "copy its data to a new ReadWriteMany claim and set persistence.output.existingClaim" in str(error.value)


def test_disabled_output_claim_rejected():
    with pytest.raises(SettingsError) as error:
        values_from_mapping({**training(), "persistence": {"output": {"enabled": False}}})

    (problem,) = error.value.problems
    assert problem.startswith("persistence.output.enabled: false while training.enabled is true")
    assert problem.endswith("set persistence.output.enabled: true")


@pytest.mark.parametrize(
    ("dataset_dir", "persistence", "claim"),
    [
        ("/app/custom_data", {"data": {"enabled": False}}, "data"),
        ("/app/custom_data/team/", {"data": {"enabled": False}}, "data"),
        ("//srv//sets", {"data": {"enabled": False, "mountPath": "/srv"}}, "data"),
        ("/root/.cache/huggingface/datasets", {"hfCache": {"enabled": False}}, "hfCache"),
    ],
)
def test_dataset_dir_on_disabled_claim_rejected(dataset_dir, persistence, claim):
    settings = {**training(args={**ARGS, "datasetDir": dataset_dir}), "persistence": persistence}

    with pytest.raises(SettingsError) as error:
        values_from_mapping(settings)

    (problem,) = error.value.problems
    assert problem.startswith(f"training.args.datasetDir: {dataset_dir!r} is on persistence.{claim}, ")
    assert f"set persistence.{claim}.enabled: true or another training.args.datasetDir" in problem


@pytest.mark.parametrize(
    ("dataset_dir", "persistence"),
    [
        ("/app/data", {"data": {"enabled": False}}),
        ("/app/custom_data_2", {"data": {"enabled": False}}),
        ("/app/custom_data", {}),
    ],
    ids=["image-demo-data", "sibling-of-mount", "data-claim-enabled"],
)
def test_dataset_dir_off_disabled_claims_accepted(dataset_dir, persistence):
    settings = {**training(args={**ARGS, "datasetDir": dataset_dir}), "persistence": persistence}

    values = values_from_mapping(settings)

    assert values.training.args.dataset_dir == dataset_dir


def test_every_training_problem_reported():
    settings = {
        "training": {"enabled": True, "nodes": 2, "args": {"datasetDir": "/app/custom_data"}},
        "persistence": {"data": {"enabled": False}},
        "extraEnv": [{"name": "NNODES", "value": "2"}],
    }

    with pytest.raises(SettingsError) as error:
        values_from_mapping(settings)

    keys = [problem.split(": ", 1)[0] for problem in error.value.problems]
    assert keys == [
        "training.args.model",
        "training.args.dataset",
        "training.args.datasetDir",
        "extraEnv[0].name",
        "persistence.output.accessMode",
        "persistence.hfCache.accessMode",
    ]


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        (
            {"limits": {"cpu": None}},
            "training.resources.limits.cpu: missing; PCAI rejects containers without a CPU limit, so set "
            "training.resources.limits.cpu (for example '8')",
        ),
        (
            {"requests": {GPU: 2}},
            f"training.resources.requests.{GPU}: 2 GPUs differs from training.resources.limits.{GPU} (1); ",
        ),
        (
            {"requests": {"memory": "100Gi"}},
            "training.resources.requests.memory: 100Gi is above training.resources.limits.memory (64Gi); ",
        ),
    ],
    ids=["cpu-limit", "gpu-request", "memory-request"],
)
def test_training_resources_hints_name_full_key(resources, problem):
    with pytest.raises(SettingsError) as error:
        values_from_mapping({"training": {"resources": resources}})

    assert [line for line in error.value.problems if line.startswith(problem)], error.value.problems


def test_app_resources_hint_names_full_key():
    with pytest.raises(SettingsError) as error:
        values_from_mapping({"resources": {"limits": {"cpu": None}}})

    assert error.value.problems == [
        "resources.limits.cpu: missing; PCAI rejects containers without a CPU limit, so set "
        "resources.limits.cpu (for example '8')"
    ]


# --- scheduling beside the app ----------------------------------------------------------------------

APP_POD_TERM = {
    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "llamafactory", "app.kubernetes.io/instance": "llamafactory"}},
    "topologyKey": "kubernetes.io/hostname",
}


def pod_affinity_terms(settings: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Return the required podAffinity terms of the training pod, None without any."""
    (template,) = pod_templates(synth(settings)).values()
    affinity = template["spec"].get("affinity", {})
    return affinity.get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")


def test_read_write_once_job_follows_app_pod():
    manifests = synth(training())
    (deployment,) = of_kind(manifests, "Deployment")

    terms = pod_affinity_terms(training())

    assert terms == [APP_POD_TERM]
    assert terms[0]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    "settings",
    [
        {**training(), "replicaCount": 0},
        {**training(), **RWX},
        {**training(), "persistence": {"hfCache": {"accessMode": "ReadWriteMany"}, "data": {"enabled": False}, "output": {"accessMode": "ReadWriteMany"}}},
    ],
    ids=["app-stopped", "read-write-many", "rwo-claim-disabled"],
)
def test_job_without_shared_rwo_claim_unpinned(settings):
    assert pod_affinity_terms(settings) is None


def test_read_write_once_affinity_keeps_user_terms():
    zone_term = {"labelSelector": {"matchLabels": {"team": "a"}}, "topologyKey": "topology.kubernetes.io/zone"}
    node_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]}}
    settings = {**training(), "affinity": {"nodeAffinity": node_affinity, "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [zone_term]}}}

    (template,) = pod_templates(synth(settings)).values()
    (deployment,) = of_kind(synth(settings), "Deployment")

    assert template["spec"]["affinity"]["nodeAffinity"] == node_affinity
    assert template["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [zone_term, APP_POD_TERM]
    assert deployment["spec"]["template"]["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [zone_term]


def test_synth_training_requires_enabled():
    with pytest.raises(ValueError, match="training.enabled is false"):
        synth_training(values_from_mapping({}))


# --- Kubernetes schemas -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.27.0", latest_version()])
@pytest.mark.parametrize("settings", [training(), training(nodes=2, engine="indexedJob", gpus=2)], ids=["job", "indexed"])
def test_job_and_service_pass_strict_schema(settings, version):
    objects = synth_training(values_from_mapping(settings))

    for manifest in objects:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert {m["kind"] for m in objects} >= {"ConfigMap", "Job"}


@pytest.mark.parametrize("name", ["on", "off", "yes", "no", "y", "n", "true", "false", "null"])
def test_yaml_keyword_argument_rejected(name):
    with pytest.raises(SettingsError) as error:
        values_from_mapping(training(args={**ARGS, "extraArgs": {name: 1}}))

    assert "would be read from train.yaml as a boolean or null" in str(error.value)
    assert "training.args.extraArgs" in str(error.value)


def test_yaml_keyword_prefix_allowed():
    # Only the bare keywords are ambiguous; longer names are plain strings.
    values = values_from_mapping(training(args={**ARGS, "extraArgs": {"only_train": 1, "yes_no": 2}}))

    assert values.training.args.extra_args == {"only_train": 1, "yes_no": 2}
