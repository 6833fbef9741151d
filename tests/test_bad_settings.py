"""Malformed settings: each must raise SettingsError naming the full key path and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
import pytest

from llamafactory_cdk8s import SettingsError, load_values, values_from_mapping

API = {"mode": "api", "api": {"model": "org/model"}}
GPU = "nvidia.com/gpu"
DNS_LABEL_FIX = "use lowercase letters, digits and '-'"
DNS_SUBDOMAIN_FIX = "use lowercase letters, digits, '-' and '.'"
QUANTITY_FIX = "use a non-negative Kubernetes quantity"
NULL_FIX = "delete the line to keep the default or set a value"
UNKNOWN_FIX = "check its spelling against values.yaml"

# (id, settings, key path the message must start with, text of the fix or None where
# the message only states the rule)
BAD_SETTINGS: list[tuple[str, dict[str, Any], str, str | None]] = [
    # wrong types
    ("replica-count-text", {"replicaCount": "one"}, "replicaCount", "write it without quotes"),
    # One line for a value that fits none of a union's types, not one per type.
    ("extra-arg-list", {**API, "api": {"model": "m", "extraArgs": {"stop": ["a"]}}}, "api.extraArgs.stop",
     "expected a string, an integer, a number or a boolean, got ['a']"),
    ("target-port-list", {"service": {"targetPort": [1]}}, "service.targetPort", "expected an integer or a string"),
    ("shm-text", {"shmSizeGi": "lots"}, "shmSizeGi", "valid integer"),
    ("shm-fraction", {"shmSizeGi": 1.5}, "shmSizeGi", "valid integer"),
    ("enabled-text", {"persistence": {"output": {"enabled": "maybe"}}}, "persistence.output.enabled", "expected true or false"),
    ("tolerations-map", {"tolerations": {"key": "x"}}, "tolerations", "valid list"),
    ("extra-env-map", {"extraEnv": {"A": "1"}}, "extraEnv", "valid list"),
    ("env-value-map", {"extraEnv": [{"name": "A", "value": {"x": 1}}]}, "extraEnv[0].value", "valid string"),
    ("image-tag-float", {"image": {"tag": 1.0}}, "image.tag", "quote it"),
    ("gpu-bool", {"resources": {"limits": {GPU: True}}}, f"resources.limits.{GPU}", "valid string"),
    # numbers out of range
    ("replica-count-2", {"replicaCount": 2}, "replicaCount", "less than or equal to 1"),
    ("gradio-port-80", {"gradio": {"serverPort": 80}}, "gradio.serverPort", "greater than or equal to 1024"),
    ("api-port-70000", {"api": {"port": 70000}}, "api.port", "less than or equal to 65535"),
    ("service-port-0", {"service": {"port": 0}}, "service.port", "greater than or equal to 1"),
    ("shm-negative", {"shmSizeGi": -1}, "shmSizeGi", "greater than or equal to 0"),
    ("run-as-user-negative", {"podSecurityContext": {"runAsUser": -1}},
     "podSecurityContext.runAsUser", "greater than or equal to 0"),
    ("liveness-period-0", {"probes": {"liveness": {"periodSeconds": 0}}},
     "probes.liveness.periodSeconds", "greater than or equal to 1"),
    ("toleration-seconds-negative", {"tolerations": [{"key": "k", "tolerationSeconds": -5}]},
     "tolerations[0].tolerationSeconds", "greater than or equal to 0"),
    # unknown keys at every level
    ("unknown-root", {"replicas": 1}, "replicas", UNKNOWN_FIX),
    ("unknown-image", {"image": {"tags": "latest"}}, "image.tags", UNKNOWN_FIX),
    ("unknown-route", {"ezua": {"virtualService": {"hosts": ["lf.example.com"]}}},
     "ezua.virtualService.hosts", UNKNOWN_FIX),
    ("unknown-claim", {"persistence": {"hfCache": {"sise": "1Gi"}}}, "persistence.hfCache.sise", UNKNOWN_FIX),
    ("unknown-volume", {"persistence": {"models": {"size": "1Gi"}}}, "persistence.models", UNKNOWN_FIX),
    ("unknown-env-key", {"extraEnv": [{"name": "A", "valueFrom": {}}]}, "extraEnv[0].valueFrom", UNKNOWN_FIX),
    ("unknown-probe-key", {"probes": {"startup": {"initialDelaySeconds": 30}}},
     "probes.startup.initialDelaySeconds", UNKNOWN_FIX),
    ("unknown-resources-key", {"resources": {"claims": []}}, "resources.claims", UNKNOWN_FIX),
    ("unknown-toleration-key", {"tolerations": [{"key": "k", "seconds": 5}]}, "tolerations[0].seconds", UNKNOWN_FIX),
    ("snake-case-key", {"shm_size": 16}, "shm_size", UNKNOWN_FIX),
    ("affinity-typo", {"affinity": {"nodeAffinty": {}}}, "affinity.nodeAffinty", "'nodeAffinity'"),
    # unknown mode and enumerations
    ("mode-train", {"mode": "train"}, "mode", "'webui' or 'api'"),
    ("infer-backend", {"api": {"inferBackend": "sglang"}}, "api.inferBackend", "'huggingface' or 'vllm'"),
    ("service-type", {"service": {"type": "Ingress"}}, "service.type", "'ClusterIP'"),
    ("pull-policy-case", {"image": {"pullPolicy": "always"}}, "image.pullPolicy", "'Always'"),
    ("server-name-loopback", {"gradio": {"serverName": "127.0.0.1"}}, "gradio.serverName", "'0.0.0.0' or '::'"),
    # null sections
    ("hf-cache-null", {"persistence": {"hfCache": None}}, "persistence.hfCache", NULL_FIX),
    ("image-null", {"image": None}, "image", NULL_FIX),
    ("resources-null", {"resources": None}, "resources", NULL_FIX),
    ("limits-null", {"resources": {"limits": None}}, "resources.limits", NULL_FIX),
    ("startup-probe-null", {"probes": {"startup": None}}, "probes.startup", NULL_FIX),
    ("output-size-null", {"persistence": {"output": {"size": None}}}, "persistence.output.size", NULL_FIX),
    ("mode-null", {"mode": None}, "mode", NULL_FIX),
    # injection strings
    ("endpoint-newline", {"ezua": {"virtualService": {"endpoint": "lf.example.com\nx: y"}}},
     "ezua.virtualService.endpoint", "set a DNS name"),
    ("endpoint-scheme", {"ezua": {"virtualService": {"endpoint": "https://lf.example.com/"}}},
     "ezua.virtualService.endpoint", "set a DNS name"),
    ("endpoint-space", {"ezua": {"virtualService": {"endpoint": "lf example.com"}}},
     "ezua.virtualService.endpoint", "set a DNS name"),
    ("tag-spaces", {"image": {"tag": "latest --privileged"}}, "image.tag", None),
    ("tag-newline", {"image": {"tag": "latest\nx: y"}}, "image.tag", None),
    ("label-newline", {"podLabels": {"team": "ml\nx: y"}}, "podLabels.team", "use at most 63 letters"),
    ("kyverno-label-newline", {"ezua": {"kyverno": {"labels": {"team": "ml\nx"}}}},
     "ezua.kyverno.labels.team", "use at most 63 letters"),
    ("match-label-newline", {"ezua": {"authorizationPolicy": {"matchLabels": {"istio": "gw\nx: y"}}}},
     "ezua.authorizationPolicy.matchLabels.istio", "use at most 63 letters"),
    ("label-too-long", {"podLabels": {"team": "a" * 64}}, "podLabels.team", "at most 63 characters"),
    ("label-key-space", {"podLabels": {"bad key": "x"}}, "podLabels.bad key", "use a label key"),
    ("node-selector-space", {"nodeSelector": {"pool": "gpu nodes"}}, "nodeSelector.pool", "use at most 63 letters"),
    ("annotation-newline", {"podAnnotations": {"note": "a\nb: c"}},
     "podAnnotations.note", "remove the control characters"),
    ("token-newline", {"huggingface": {"token": "hf_x\nx: y"}}, "huggingface.token", "remove the control characters"),
    ("api-key-newline", {"api": {"apiKey": "k\nx"}}, "api.apiKey", "remove the control characters"),
    ("model-newline", {**API, "api": {"model": "org/model\n--x"}}, "api.model", "without control characters"),
    ("storage-class-newline", {"persistence": {"data": {"storageClass": "fast\nx"}}},
     "persistence.data.storageClass", "the name of a storage class"),
    ("registry-newline", {"image": {"registry": "reg.example.com\nx"}},
     "image.registry", "remove the control characters"),
    ("gateway-space", {"ezua": {"virtualService": {"istioGateway": "istio-system/ezaf gateway"}}},
     "ezua.virtualService.istioGateway", None),
    ("extra-arg-key", {**API, "api": {"model": "m", "extraArgs": {"x --y": "1"}}}, "api.extraArgs.x --y", None),
    # GPU requests and limits
    ("gpu-mismatch", {"resources": {"requests": {GPU: 1}, "limits": {GPU: 2}}},
     f"resources.requests.{GPU}", "set both to the same count"),
    ("gpu-half", {"resources": {"requests": {GPU: 0.5}}}, f"resources.requests.{GPU}", "set an integer such as 1"),
    ("gpu-fraction-text", {"resources": {"limits": {GPU: "1.5"}}},
     f"resources.limits.{GPU}", "set an integer such as 1"),
    ("gpu-milli", {"resources": {"limits": {GPU: "500m"}}}, f"resources.limits.{GPU}", "set an integer such as 1"),
    ("memory-request-above-limit", {"resources": {"requests": {"memory": "128Gi"}}},
     "resources.requests.memory", "raise the limit"),
    ("cpu-request-above-limit", {"resources": {"requests": {"cpu": 16}}}, "resources.requests.cpu", "raise the limit"),
    ("no-cpu-at-all", {"resources": {"limits": {"cpu": None}}},
     "resources.limits.cpu", "set resources.limits.cpu"),
    # A null for a key that has no default is kept, as Helm keeps it, and refused.
    ("null-request-without-default", {"resources": {"requests": {"cpu": None}}},
     "resources.requests.cpu", "valid string"),
    ("null-pod-label", {"podLabels": {"team": None}}, "podLabels.team", "valid string"),
    ("resource-name-space", {"resources": {"limits": {"nvidia gpu": 1}}},
     "resources.limits.nvidia gpu", "invalid resource name; use cpu, memory"),
    # API mode
    ("api-without-model", {"mode": "api"}, "api.model", "set api.model"),
    ("api-model-empty", {"mode": "api", "api": {"model": ""}}, "api.model", "use a Hugging Face model id"),
    ("affinity-nested-typo", {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpression": []}]}}}},
     "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpression",
     "Kubernetes knows matchExpressions"),
    ("toleration-exists-with-value", {"tolerations": [{"key": "x", "operator": "Exists", "value": "v"}]},
     "tolerations[0].value", "remove value"),
    ("toleration-no-key-equal", {"tolerations": [{"operator": "Equal"}]}, "tolerations[0].operator", "operator: Exists"),
    ("toleration-seconds-no-execute", {"tolerations": [{"key": "d", "effect": "NoSchedule", "tolerationSeconds": 30}]},
     "tolerations[0].tolerationSeconds", "effect: NoExecute"),
    ("seccomp-localhost-no-profile", {"podSecurityContext": {"seccompProfile": {"type": "Localhost"}}},
     "podSecurityContext.seccompProfile.localhostProfile", "required with type Localhost"),
    ("privileged-without-escalation", {"securityContext": {"privileged": True}}, "securityContext.privileged",
     "allowPrivilegeEscalation: true"),
    ("root-marked-non-root", {"podSecurityContext": {"runAsUser": 0, "runAsNonRoot": True}},
     "podSecurityContext.runAsUser", "non-zero UID"),
    ("mount-over-app", {"persistence": {"output": {"mountPath": "/app"}}}, "persistence.output.mountPath",
     "choose another path"),
    ("state-not-in-app", {"persistence": {"webuiState": {"mountPath": "/data/state"}}},
     "persistence.webuiState.mountPath", "remove the key"),
    ("release-leading-digit", {"releaseName": "1lf"}, "releaseName", "starting with a letter"),
    ("extra-arg-secret", {**API, "api": {"model": "m", "extraArgs": {"hf_hub_token": "x"}}}, "api.extraArgs",
     "huggingface.token or api.apiKey"),
    ("api-model-option", {"mode": "api", "api": {"model": "--help"}}, "api.model", "leading '-'"),
    ("api-reserved-extra-arg", {**API, "api": {"model": "m", "extraArgs": {"model_name_or_path": "x"}}},
     "api.extraArgs", "set api.model"),
    # names Kubernetes rejects
    ("release-capitals", {"releaseName": "LlamaFactory"}, "releaseName", DNS_LABEL_FIX),
    ("release-underscore", {"releaseName": "llama_factory"}, "releaseName", DNS_LABEL_FIX),
    ("release-trailing-dash", {"releaseName": "llama-"}, "releaseName", DNS_LABEL_FIX),
    ("release-54-chars", {"releaseName": "a" * 54}, "releaseName", "at most 53 characters"),
    ("release-empty", {"releaseName": ""}, "releaseName", DNS_LABEL_FIX),
    ("namespace-64-chars", {"namespace": "a" * 64}, "namespace", "at most 63 characters"),
    ("namespace-capitals", {"namespace": "ML"}, "namespace", DNS_LABEL_FIX),
    ("fullname-capitals", {"fullnameOverride": "Llama"}, "fullnameOverride", None),
    ("claim-underscore", {"persistence": {"data": {"existingClaim": "my_claim"}}},
     "persistence.data.existingClaim", "use lowercase letters, digits, '-' and '.'"),
    ("claim-double-dot", {"persistence": {"output": {"existingClaim": "a..b"}}},
     "persistence.output.existingClaim", "use lowercase letters, digits, '-' and '.'"),
    ("claim-254-chars", {"persistence": {"hfCache": {"existingClaim": "a" * 254}}},
     "persistence.hfCache.existingClaim", "at most 253 characters"),
    ("hf-secret-capitals", {"huggingface": {"existingSecret": "HF-Token"}},
     "huggingface.existingSecret", DNS_SUBDOMAIN_FIX),
    ("api-secret-space", {"api": {"existingSecret": "api key"}}, "api.existingSecret", DNS_SUBDOMAIN_FIX),
    ("pull-secret-space", {"imagePullSecrets": [{"name": "reg cred"}]}, "imagePullSecrets[0].name", DNS_LABEL_FIX),
    ("pull-secret-plain-capitals", {"imagePullSecrets": ["ok", "Regcred"]}, "imagePullSecrets[1].name", DNS_LABEL_FIX),
    ("auth-namespace-capitals", {"ezua": {"authorizationPolicy": {"namespace": "Istio"}}},
     "ezua.authorizationPolicy.namespace", DNS_LABEL_FIX),
    # extraEnv
    ("env-hf-token", {"extraEnv": [{"name": "HF_TOKEN", "value": "hf_x"}]},
     "extraEnv[0].name", "use huggingface.token or huggingface.existingSecret"),
    ("env-api-key", {"extraEnv": [{"name": "A", "value": "1"}, {"name": "API_KEY", "value": "k"}]},
     "extraEnv[1].name", "use api.apiKey or api.existingSecret"),
    ("env-gradio-port", {"extraEnv": [{"name": "GRADIO_SERVER_PORT", "value": 7861}]},
     "extraEnv[0].name", "use gradio.serverPort"),
    ("env-hf-home", {"extraEnv": [{"name": "HF_HOME", "value": "/x"}]},
     "extraEnv[0].name", "use persistence.hfCache.mountPath"),
    ("env-duplicate", {"extraEnv": [{"name": "A"}, {"name": "B"}, {"name": "A"}]}, "extraEnv[2].name", "keep one"),
    ("env-name-digit", {"extraEnv": [{"name": "1A"}]}, "extraEnv[0].name", "not starting with a digit"),
    ("env-name-missing", {"extraEnv": [{"value": "1"}]}, "extraEnv[0].name", "set it"),
    # startup probe budget
    ("startup-below-600", {"probes": {"startup": {"failureThreshold": 59}}},
     "probes.startup.failureThreshold", "raise probes.startup.failureThreshold"),
    ("startup-api-short-period", {**API, "probes": {"startup": {"periodSeconds": 3}}},
     "probes.startup.failureThreshold", "raise probes.startup.failureThreshold"),
    # mount paths
    ("mount-duplicate", {"persistence": {"data": {"mountPath": "/app/output/"}}},
     "persistence.output.mountPath", "give each volume its own path"),
    ("mount-dev-shm", {"persistence": {"output": {"mountPath": "/dev/shm"}}},
     "persistence.output.mountPath", "choose another path"),
    ("mount-tmp", {"persistence": {"hfCache": {"mountPath": "/tmp"}}},
     "persistence.hfCache.mountPath", "choose another path"),
    ("mount-root", {"persistence": {"data": {"mountPath": "/"}}}, "persistence.data.mountPath", "choose another path"),
    ("mount-over-saves", {"persistence": {"data": {"mountPath": "/app/saves"}}},
     "persistence.webuiState.mountPath (saves)", "give each volume its own path"),
    ("mount-relative", {"persistence": {"data": {"mountPath": "data"}}}, "persistence.data.mountPath", None),
    # service.targetPort
    ("target-port-webui", {"service": {"targetPort": 8000}}, "service.targetPort", "set gradio.serverPort"),
    ("target-port-api", {**API, "service": {"targetPort": 7860}}, "service.targetPort", "set api.port"),
    ("target-port-other-name", {"service": {"targetPort": "web"}}, "service.targetPort", "remove service.targetPort"),
    # quantities
    ("size-lots", {"persistence": {"hfCache": {"size": "lots"}}}, "persistence.hfCache.size", QUANTITY_FIX),
    ("size-negative", {"persistence": {"hfCache": {"size": "-1Gi"}}}, "persistence.hfCache.size", QUANTITY_FIX),
    ("size-space", {"persistence": {"data": {"size": "10 Gi"}}}, "persistence.data.size", QUANTITY_FIX),
    ("size-gb", {"persistence": {"output": {"size": "100GB"}}}, "persistence.output.size", QUANTITY_FIX),
    ("memory-lots", {"resources": {"limits": {"memory": "lots"}}}, "resources.limits.memory", QUANTITY_FIX),
    ("cpu-negative", {"resources": {"requests": {"cpu": -1}}}, "resources.requests.cpu", QUANTITY_FIX),
    # storage access mode
    ("access-mode-short", {"persistence": {"output": {"accessMode": "RWO"}}},
     "persistence.output.accessMode", "'ReadWriteOnce'"),
    ("access-mode-case", {"persistence": {"hfCache": {"accessMode": "readwriteonce"}}},
     "persistence.hfCache.accessMode", "'ReadWriteOnce'"),
    # image digest and registry
    ("digest-short", {"image": {"digest": "sha256:abc"}}, "image.digest", None),
    ("digest-md5", {"image": {"digest": "md5:" + "a" * 32}}, "image.digest", None),
    ("registry-scheme", {"image": {"registry": "https://reg.example.com"}}, "image.registry", "set a host such as"),
    ("registry-space", {"image": {"registry": "reg example.com"}}, "image.registry", "set a host such as"),
    ("repository-capitals", {"image": {"repository": "Hiyouga/LlamaFactory"}}, "image.repository", None),
    # tolerations
    ("toleration-effect", {"tolerations": [{"key": "k", "effect": "NoRun"}]}, "tolerations[0].effect", "'NoSchedule'"),
    ("toleration-operator", {"tolerations": [{"key": "k", "operator": "In"}]},
     "tolerations[0].operator", "'Exists' or 'Equal'"),
    # other routes and endpoints
    ("route-timeout-no-unit", {"ezua": {"virtualService": {"timeout": "10"}}}, "ezua.virtualService.timeout", None),
    # Istio's CRD refuses timeouts under 1ms; "0s" was this chart's default once.
    ("route-timeout-zero", {"ezua": {"virtualService": {"timeout": "0s"}}}, "ezua.virtualService.timeout",
     "leave the key out for no timeout"),
    ("route-timeout-fraction", {"ezua": {"virtualService": {"timeout": "0.5ms"}}}, "ezua.virtualService.timeout",
     None),
    ("hf-endpoint-no-scheme", {"huggingface": {"endpoint": "hf-mirror.example.com"}}, "huggingface.endpoint", None),
]


def problem_for(problems: list[str], key: str) -> str:
    """Return the problem line about ``key``; fail when no line starts with it."""
    found = [problem for problem in problems if problem.startswith(f"{key}: ")]
    assert found, f"no problem starts with {key!r}: {problems}"
    return found[0]


def test_enough_bad_settings() -> None:
    ids = [case[0] for case in BAD_SETTINGS]

    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("settings", "key", "fix"),
    [case[1:] for case in BAD_SETTINGS],
    ids=[case[0] for case in BAD_SETTINGS],
)
def test_bad_setting_rejected(settings: dict[str, Any], key: str, fix: str | None) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"{key}: ")) as info:
        values_from_mapping(settings)

    problem = problem_for(info.value.problems, key)
    if fix is not None:
        assert fix in problem


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        (
            'ezua:\n  virtualService:\n    endpoint: "lf.example.com\\nx: y"\n',
            "ezua.virtualService.endpoint",
            "set a DNS name",
        ),
        ("image:\n  tag: latest x\n", "image.tag", None),
        ('podLabels:\n  team: "ml\\nx: y"\n', "podLabels.team", "use at most 63 letters"),
        ("extraEnv:\n  - {name: HF_TOKEN, value: hf_x}\n", "extraEnv[0].name", "use huggingface.token"),
        ("persistence:\n  hfCache:\n", "persistence.hfCache", NULL_FIX),
        (
            "resources:\n  requests: {nvidia.com/gpu: 1}\n  limits: {nvidia.com/gpu: 2}\n",
            f"resources.requests.{GPU}",
            "set both",
        ),
        ("releaseName: Llama_Factory\n", "releaseName", DNS_LABEL_FIX),
    ],
    ids=[
        "endpoint-newline", "tag-space", "label-newline", "env-hf-token", "hf-cache-null", "gpu-mismatch",
        "release-name",
    ],
)
def test_bad_file_rejected(tmp_path: Path, text: str, key: str, fix: str | None) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(SettingsError, match=re.escape(f"{key}: ")) as info:
        load_values([path])

    assert info.value.source == str(path)
    problem = problem_for(info.value.problems, key)
    if fix is not None:
        assert fix in problem


def test_injection_never_reaches_values() -> None:
    settings = {"ezua": {"virtualService": {"endpoint": "lf.example.com\nx: y"}}}

    with pytest.raises(SettingsError) as info:
        values_from_mapping(settings)

    assert len(info.value.problems) == 1
    assert "\nx: y" not in info.value.problems[0]


@pytest.mark.parametrize(
    "settings",
    [
        {"huggingface": {"token": "hf_SECRET_VALUE\t"}},
        {"api": {"apiKey": "SECRET_VALUE\n"}},
        {"api": {"apiKey": 12345678}},
    ],
    ids=["token-tab", "api-key-newline", "api-key-number"],
)
def test_secret_values_never_appear_in_messages(settings: dict[str, Any]) -> None:
    with pytest.raises(SettingsError) as info:
        values_from_mapping(settings)

    message = str(info.value)
    assert "SECRET_VALUE" not in message
    assert "12345678" not in message
    assert "(a secret, not shown)" in message
