"""Tests of LlamaFactoryWorkload: the Deployment and Service."""

from __future__ import annotations

import pytest

import llamafactory_cdk8s  # noqa: F401
import cdk8s
from conftest import env_of, main_container, mounts_of, only, pod_spec, synth
from llamafactory_cdk8s import (
    ConstructError,
    LlamaFactoryWorkload,
    ReleaseNames,
    StorageConstruct,
    Values,
)

API = {"mode": "api", "api": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "template": "qwen"}}


def test_deployment_defaults_stated():
    deployment = only(synth(), "Deployment")

    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    assert main_container(synth())["imagePullPolicy"] == "Always"


def test_selector_uses_release_labels_only():
    deployment = only(synth(), "Deployment")

    selector = deployment["spec"]["selector"]["matchLabels"]

    assert selector == {"app.kubernetes.io/name": "llamafactory", "app.kubernetes.io/instance": "llamafactory"}


def test_pod_labels_have_no_construct_path():
    labels = only(synth(), "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert not any(key.startswith("cdk8s.io") for key in labels)
    for key, value in only(synth(), "Deployment")["spec"]["selector"]["matchLabels"].items():
        assert labels[key] == value


def test_selector_same_across_modes():
    webui = only(synth(), "Deployment")["spec"]["selector"]
    api = only(synth(API), "Deployment")["spec"]["selector"]

    assert webui == api


def test_pod_labels_ezua():
    labels = only(synth(), "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert labels["hpe-ezua/app"] == "llamafactory"
    assert labels["hpe-ezua/component"] == "webui"
    assert labels["hpe-ezua/type"] == "vendor-service"


def test_kyverno_labels_land_on_pod():
    manifests = synth({"ezua": {"kyverno": {"enabled": True, "labels": {"team": "ml"}}}})

    labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert labels["team"] == "ml"
    assert not [m for m in manifests if "kyverno" in m["apiVersion"]]


def test_pod_labels_cannot_override_ezua():
    manifests = synth({"podLabels": {"hpe-ezua/app": "other", "team": "ml"}})

    labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert labels["hpe-ezua/app"] == "llamafactory"
    assert labels["team"] == "ml"


def test_webui_command_env_port():
    container = main_container(synth())

    env = env_of(container)

    assert container["command"] == ["llamafactory-cli", "webui"]
    assert "args" not in container
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    assert env["GRADIO_SERVER_PORT"] == "7860"
    assert env["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert container["ports"] == [{"containerPort": 7860, "name": "http", "protocol": "TCP"}]
    assert container["workingDir"] == "/app"


@pytest.mark.parametrize("mode_settings, port, path", [({}, 7860, "/"), (API, 8000, "/docs")])
def test_ports_and_probes_agree(mode_settings, port, path):
    manifests = synth(mode_settings)

    container = main_container(manifests)
    service = only(manifests, "Service")

    assert container["ports"][0]["containerPort"] == port
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == port
        assert container[probe]["httpGet"]["path"] == path


def test_custom_gradio_port_followed():
    manifests = synth({"gradio": {"serverPort": 7861}})

    container = main_container(manifests)

    assert container["ports"][0]["containerPort"] == 7861
    assert env_of(container)["GRADIO_SERVER_PORT"] == "7861"
    assert container["startupProbe"]["httpGet"]["port"] == 7861
    assert only(manifests, "Service")["spec"]["ports"][0]["port"] == 7861


def test_api_mode_args_and_env():
    settings = {
        "mode": "api",
        "api": {
            "model": "meta-llama/Llama-3.2-1B",
            "template": "llama3",
            "inferBackend": "vllm",
            "adapter": "/app/output/lora",
            "extraArgs": {"trust_remote_code": True, "max_new_tokens": 512},
        },
    }

    container = main_container(synth(settings))

    assert container["command"] == ["llamafactory-cli", "api"]
    assert container["args"] == [
        "--model_name_or_path", "meta-llama/Llama-3.2-1B",
        "--template", "llama3",
        "--infer_backend", "vllm",
        "--adapter_name_or_path", "/app/output/lora",
        "--max_new_tokens", "512",
        "--trust_remote_code", "true",
    ]
    assert env_of(container)["API_PORT"] == "8000"
    assert env_of(container)["API_HOST"] == "0.0.0.0"
    assert "GRADIO_SERVER_PORT" not in env_of(container)


def test_api_key_from_created_secret():
    manifests = synth({**API, "api": {**API["api"], "apiKey": "s3cret"}})

    container = main_container(manifests)
    secrets = [m for m in manifests if m["kind"] == "Secret"]

    assert len(secrets) == 1
    assert secrets[0]["metadata"]["name"] == "llamafactory-api-key"
    assert secrets[0]["stringData"] == {"api-key": "s3cret"}
    assert env_of(container)["API_KEY"] == {"secretKeyRef": {"name": "llamafactory-api-key", "key": "api-key", "optional": False}}
    assert "s3cret" not in " ".join(container["args"])


def test_api_key_from_existing_secret():
    settings = {**API, "api": {**API["api"], "existingSecret": "my-keys", "existingSecretKey": "key"}}

    manifests = synth(settings)

    assert not [m for m in manifests if m["kind"] == "Secret"]
    assert env_of(main_container(manifests))["API_KEY"] == {"secretKeyRef": {"name": "my-keys", "key": "key", "optional": False}}


def test_hf_token_from_secret():
    manifests = synth({"huggingface": {"token": "hf_abc"}})

    secret = only(manifests, "Secret")
    env = env_of(main_container(manifests))

    assert secret["stringData"] == {"token": "hf_abc"}
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "llamafactory-hf-token", "key": "token", "optional": False}}


def test_hf_existing_secret_wins_over_token():
    manifests = synth({"huggingface": {"token": "hf_abc", "existingSecret": "hf", "existingSecretKey": "HF_TOKEN"}})

    assert not [m for m in manifests if m["kind"] == "Secret"]
    assert env_of(main_container(manifests))["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "HF_TOKEN", "optional": False}}


def test_empty_token_no_secret():
    manifests = synth({"huggingface": {"token": ""}})

    assert not [m for m in manifests if m["kind"] == "Secret"]
    assert "HF_TOKEN" not in env_of(main_container(manifests))


def test_offline_and_endpoint_env():
    env = env_of(main_container(synth({"huggingface": {"offline": True, "endpoint": "https://hf-mirror.example.com"}})))

    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_ENDPOINT"] == "https://hf-mirror.example.com"
    assert env["HF_HOME"] == "/root/.cache/huggingface"


def test_extra_env_values_are_strings():
    settings = {"extraEnv": [{"name": "NCCL_P2P_DISABLE", "value": 1}, {"name": "NCCL_BUFFSIZE", "value": 4194304}]}

    env = main_container(synth(settings))["env"]

    assert {"name": "NCCL_P2P_DISABLE", "value": "1"} in env
    assert {"name": "NCCL_BUFFSIZE", "value": "4194304"} in env


def test_gpu_resources_and_toleration():
    manifests = synth({"resources": {"limits": {"nvidia.com/gpu": 2}}})

    resources = main_container(manifests)["resources"]
    tolerations = pod_spec(manifests)["tolerations"]

    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_no_gpu_no_key_no_toleration():
    settings = {"resources": {"limits": {"nvidia.com/gpu": 0}}}

    manifests = synth(settings)
    resources = main_container(manifests)["resources"]

    assert "nvidia.com/gpu" not in resources["limits"]
    assert "nvidia.com/gpu" not in resources["requests"]
    assert "tolerations" not in pod_spec(manifests)


def test_gpu_toleration_not_duplicated():
    own = {"key": "nvidia.com/gpu", "operator": "Exists"}

    tolerations = pod_spec(synth({"tolerations": [own]}))["tolerations"]

    assert tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists"}]


def test_cpu_limit_copied_from_request():
    settings = {"resources": {"requests": {"cpu": "3"}, "limits": {"cpu": None}}}

    resources = main_container(synth(settings))["resources"]

    assert resources["limits"]["cpu"] == "3"


def test_security_context_strict_defaults():
    manifests = synth()

    container = main_container(manifests)["securityContext"]
    pod = pod_spec(manifests)["securityContext"]

    assert container["allowPrivilegeEscalation"] is False
    assert container["privileged"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec(manifests)["hostIPC"] is False


def test_webui_pod_shares_process_namespace():
    spec = pod_spec(synth())

    # The pause container is PID 1, so LLaMA Board gets SIGTERM's default action.
    assert spec["shareProcessNamespace"] is True
    assert "hostPID" not in spec


def test_api_pod_keeps_own_process_namespace():
    spec = pod_spec(synth(API))

    assert spec["shareProcessNamespace"] is False


def test_non_root_setting_works():
    settings = {
        "podSecurityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 1000},
        "securityContext": {"readOnlyRootFilesystem": True},
    }

    manifests = synth(settings)
    container = main_container(manifests)
    mounts = mounts_of(container)
    env = env_of(container)

    assert pod_spec(manifests)["securityContext"]["runAsUser"] == 1000
    assert pod_spec(manifests)["securityContext"]["fsGroup"] == 1000
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for path in ("/app/cache", "/app/saves", "/app/config", "/app/llamaboard_cache", "/app/llamaboard_config", "/tmp", "/cache/huggingface"):
        assert path in mounts, path
    assert env["HF_HOME"] == "/cache/huggingface"
    assert env["HOME"] == "/tmp"
    assert not any(path.startswith("/root") for path in mounts)


def test_scheduling_passed_through():
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}]
            }
        }
    }
    settings = {
        "nodeSelector": {"topology.kubernetes.io/zone": "z1"},
        "affinity": affinity,
        "imagePullSecrets": [{"name": "regcred"}, "other"],
        "hostIPC": True,
    }

    spec = pod_spec(synth(settings))

    assert spec["nodeSelector"] == {"topology.kubernetes.io/zone": "z1"}
    assert spec["affinity"] == affinity
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
    assert spec["hostIPC"] is True


def test_image_registry_and_digest():
    digest = "sha256:" + "a" * 64

    image = main_container(synth({"image": {"registry": "${AIRGAP_REGISTRY}", "tag": "0.9.4", "digest": digest}}))["image"]

    assert image == f"${{AIRGAP_REGISTRY}}/hiyouga/llamafactory:0.9.4@{digest}"


def test_startup_probe_budget():
    webui = main_container(synth())["startupProbe"]
    api = main_container(synth(API))["startupProbe"]
    custom = main_container(synth({"probes": {"startup": {"periodSeconds": 20, "failureThreshold": 90}}}))["startupProbe"]

    assert webui["periodSeconds"] * webui["failureThreshold"] == 600
    assert api["periodSeconds"] * api["failureThreshold"] == 1800
    assert (custom["periodSeconds"], custom["failureThreshold"]) == (20, 90)


def test_replica_count_zero():
    assert only(synth({"replicaCount": 0}), "Deployment")["spec"]["replicas"] == 0


def test_construct_rejects_api_without_model():
    values = Values.model_construct(**{**Values().__dict__, "mode": "api"})
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "test")
    names = ReleaseNames.from_values(Values())
    storage = StorageConstruct(chart, "storage", names=names, persistence=values.persistence, hf_cache_mount_path="/c")

    with pytest.raises(ConstructError, match="api.model"):
        LlamaFactoryWorkload(chart, "workload", values=values, names=names, storage=storage)
