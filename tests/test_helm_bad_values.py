"""Malformed values files: the generated chart and the values model both reject each one.

For every file, ``helm template`` fails, its message names the key, nothing reaches
stdout, and ``values_from_mapping`` raises SettingsError naming the same key. Helm
writes the key in one of three forms:

- a schema error: ``- image.tag: Does not match pattern …``, with list indexes as
  ``.0`` (``extraEnv.0.name``),
- an unknown or missing key, named with its parent: ``- image: Additional property
  tags is not allowed``, ``- (root): persistence is required``,
- a ``fail`` check of the chart: ``Error: execution error at (<template>):
  extraEnv[2].name: …``, with the model's key first.

Rows with a ``gap`` reason are files that one side or both accept, although
Kubernetes or the other side rejects them. They are strict xfails, so a fix makes
them fail until the reason is removed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
import pytest
import yaml

import helm_support
from conftest import require_tool
from helm_support import ARCHIVE, CHART_DIR, HelmError, helm_template, python_objects
from llamafactory_cdk8s.errors import SettingsError
from llamafactory_cdk8s.loading import values_from_mapping

GPU = "nvidia.com/gpu"
API = {"mode": "api", "api": {"model": "org/model"}}
ERROR_LINE = re.compile(r"^Error: (?:execution error at \([^)]*\): )?(.*)$")


def api(**settings: Any) -> dict[str, Any]:
    """Return api mode with a model, plus more ``api`` settings."""
    return {"mode": "api", "api": {"model": "org/model", **settings}}


def case(
    case_id: str,
    settings: dict[str, Any] | str,
    key: str,
    helm: str | None = None,
    *,
    gap: str | None = None,
) -> Any:
    """Return one table row.

    ``settings`` is a mapping or the YAML text of a values file. The model's problem
    line must start with ``key: ``, and one of Helm's problem lines must start with
    ``helm`` (default ``key: ``). ``gap`` is the reason for a strict xfail.
    """
    marks = [known_gap(gap)] if gap else []
    return pytest.param(settings, key, helm if helm is not None else f"{key}: ", id=case_id, marks=marks)


def known_gap(reason: str) -> pytest.MarkDecorator:
    """Mark a file that one side or both accept. Only a missing rejection counts as
    the expected failure, so a fix whose message names another key still fails."""
    return pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=reason)


def unknown(parent: str, name: str) -> str:
    return f"{parent}: Additional property {name} is not allowed"


def required(parent: str, name: str) -> str:
    return f"{parent}: {name} is required"


TRAINING = {"training": {"enabled": True, "args": {"model": "org/model", "dataset": "alpaca_en_demo"}}}
TRAINING_TWO_NODES = {"training": {**TRAINING["training"], "nodes": 2}}

BAD_FILES = [
    # wrong types
    case("replica-count-text", {"replicaCount": "one"}, "replicaCount", "replicaCount: Invalid type"),
    case("shm-fraction", {"shmSizeGi": 1.5}, "shmSizeGi", "shmSizeGi: Invalid type"),
    case("claim-enabled-text", {"persistence": {"output": {"enabled": "maybe"}}}, "persistence.output.enabled",
         "persistence.output.enabled: Invalid type. Expected: boolean"),
    case("tolerations-map", {"tolerations": {"key": "x"}}, "tolerations", "tolerations: Invalid type. Expected: array"),
    case("extra-env-map", {"extraEnv": {"A": "1"}}, "extraEnv", "extraEnv: Invalid type. Expected: array"),
    case("pull-secrets-map", {"imagePullSecrets": {"name": "x"}}, "imagePullSecrets",
         "imagePullSecrets: Invalid type. Expected: array"),
    case("pod-labels-list", {"podLabels": ["team"]}, "podLabels", "podLabels: Invalid type. Expected: object"),
    case("tag-yaml-float", "image:\n  tag: 1.10\n", "image.tag", "image.tag: Invalid type. Expected: string"),
    case("gpu-boolean", {"resources": {"limits": {GPU: True}}}, f"resources.limits.{GPU}",
         f"resources.limits.{GPU}: Invalid type"),
    case("service-port-name", {"service": {"port": "http"}}, "service.port", "service.port: Invalid type"),
    case("env-value-list", {"extraEnv": [{"name": "A", "value": [1]}]}, "extraEnv[0].value",
         "extraEnv.0.value: Invalid type"),
    case("toleration-plain-string", {"tolerations": [GPU]}, "tolerations[0]", "tolerations.0: Invalid type"),
    case("allowed-namespaces-text", {"networkPolicy": {"allowedNamespaces": "istio-system"}},
         "networkPolicy.allowedNamespaces", "networkPolicy.allowedNamespaces: Invalid type. Expected: array"),
    case("host-ipc-text", {"hostIPC": "yes"}, "hostIPC", "hostIPC: Invalid type. Expected: boolean"),
    case("offline-number", {"huggingface": {"offline": 1}}, "huggingface.offline", "huggingface.offline: Invalid type"),
    case("server-port-digits", {"gradio": {"serverPort": "7861"}}, "gradio.serverPort",
         "gradio.serverPort: Invalid type. Expected: integer"),
    case("run-as-user-digits", {"podSecurityContext": {"runAsUser": "1000"}}, "podSecurityContext.runAsUser",
         "podSecurityContext.runAsUser: Invalid type"),
    # numbers out of range
    case("replica-count-2", {"replicaCount": 2}, "replicaCount", "replicaCount: Must be less than or equal to 1"),
    case("gradio-port-80", {"gradio": {"serverPort": 80}}, "gradio.serverPort",
         "gradio.serverPort: Must be greater than or equal to 1024"),
    case("api-port-70000", {"api": {"port": 70000}}, "api.port", "api.port: Must be less than or equal to 65535"),
    case("service-port-70000", {"service": {"port": 70000}}, "service.port",
         "service.port: Must be less than or equal to 65535"),
    case("shm-negative", {"shmSizeGi": -1}, "shmSizeGi", "shmSizeGi: Must be greater than or equal to 0"),
    case("shm-5000", {"shmSizeGi": 5000}, "shmSizeGi", "shmSizeGi: Must be less than or equal to 4096"),
    case("run-as-user-negative", {"podSecurityContext": {"runAsUser": -1}}, "podSecurityContext.runAsUser",
         "podSecurityContext.runAsUser: Must be greater than or equal to 0"),
    case("liveness-period-0", {"probes": {"liveness": {"periodSeconds": 0}}}, "probes.liveness.periodSeconds",
         "probes.liveness.periodSeconds: Must be greater than or equal to 1"),
    case("readiness-timeout-601", {"probes": {"readiness": {"timeoutSeconds": 601}}},
         "probes.readiness.timeoutSeconds", "probes.readiness.timeoutSeconds: Must be less than or equal to 600"),
    case("readiness-failures-0", {"probes": {"readiness": {"failureThreshold": 0}}},
         "probes.readiness.failureThreshold", "probes.readiness.failureThreshold: Must be greater than or equal to 1"),
    case("toleration-seconds-negative",
         {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -5}]},
         "tolerations[0].tolerationSeconds", "tolerations.0.tolerationSeconds: Must be greater than or equal to 0"),
    case("toleration-seconds-fraction",
         {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1.5}]},
         "tolerations[0].tolerationSeconds", "tolerations.0.tolerationSeconds: Invalid type"),
    # unknown mode and other enumerations
    case("mode-train", {"mode": "train"}, "mode", "mode: mode must be one of the following"),
    case("infer-backend-sglang", {"api": {"inferBackend": "sglang"}}, "api.inferBackend"),
    case("service-type-ingress", {"service": {"type": "Ingress"}}, "service.type"),
    case("pull-policy-lowercase", {"image": {"pullPolicy": "always"}}, "image.pullPolicy"),
    case("server-name-loopback", {"gradio": {"serverName": "127.0.0.1"}}, "gradio.serverName"),
    case("access-mode-rwo", {"persistence": {"output": {"accessMode": "RWO"}}}, "persistence.output.accessMode"),
    case("fs-group-policy", {"podSecurityContext": {"fsGroupChangePolicy": "Sometimes"}},
         "podSecurityContext.fsGroupChangePolicy", "podSecurityContext.fsGroupChangePolicy: podSecurityContext"),
    case("seccomp-type", {"securityContext": {"seccompProfile": {"type": "Bogus"}}},
         "securityContext.seccompProfile.type"),
    case("toleration-effect", {"tolerations": [{"key": "k", "effect": "NoRun"}]}, "tolerations[0].effect",
         "tolerations.0.effect: tolerations.0.effect must be one of the following"),
    case("toleration-operator", {"tolerations": [{"key": "k", "operator": "In"}]}, "tolerations[0].operator",
         "tolerations.0.operator: tolerations.0.operator must be one of the following"),
    # null for a section or setting whose default is not empty
    case("persistence-null", {"persistence": None}, "persistence", required("(root)", "persistence")),
    case("resources-null", {"resources": None}, "resources", required("(root)", "resources")),
    case("image-null", {"image": None}, "image", required("(root)", "image")),
    case("probes-empty-yaml", "probes:\n", "probes", required("(root)", "probes")),
    case("gradio-null", {"gradio": None}, "gradio", required("(root)", "gradio")),
    case("ezua-null", {"ezua": None}, "ezua", required("(root)", "ezua")),
    case("mode-null", {"mode": None}, "mode", required("(root)", "mode")),
    case("hf-cache-null", {"persistence": {"hfCache": None}}, "persistence.hfCache",
         required("persistence", "hfCache")),
    case("limits-null", {"resources": {"limits": None}}, "resources.limits", required("resources", "limits")),
    case("startup-probe-null", {"probes": {"startup": None}}, "probes.startup", required("probes", "startup")),
    case("capabilities-null", {"securityContext": {"capabilities": None}}, "securityContext.capabilities",
         required("securityContext", "capabilities")),
    case("route-null", {"ezua": {"virtualService": None}}, "ezua.virtualService",
         required("ezua", "virtualService")),
    case("output-size-null", {"persistence": {"output": {"size": None}}}, "persistence.output.size",
         required("persistence.output", "size")),
    case("server-port-null", {"gradio": {"serverPort": None}}, "gradio.serverPort",
         required("gradio", "serverPort")),
    case("match-labels-null", {"ezua": {"authorizationPolicy": {"matchLabels": None}}},
         "ezua.authorizationPolicy.matchLabels", required("ezua.authorizationPolicy", "matchLabels")),
    case("drop-null", {"securityContext": {"capabilities": {"drop": None}}}, "securityContext.capabilities.drop",
         required("securityContext.capabilities", "drop")),
    case("pod-seccomp-null", {"podSecurityContext": {"seccompProfile": None}}, "podSecurityContext.seccompProfile",
         required("podSecurityContext", "seccompProfile")),
    case("network-policy-null", {"networkPolicy": None}, "networkPolicy", required("(root)", "networkPolicy")),
    case("env-item-null", {"extraEnv": [None]}, "extraEnv[0]", "extraEnv.0: Invalid type. Expected: object"),
    # strings that try to leave their YAML scalar or run template code
    case("endpoint-newline", {"ezua": {"virtualService": {"endpoint": "lf.example.com\nx: y"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-template", {"ezua": {"virtualService": {"endpoint": "{{ .Release.Name }}.example.com"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-colon", {"ezua": {"virtualService": {"endpoint": "lf.example.com: x"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("tag-newline", {"image": {"tag": "latest\nx: y"}}, "image.tag", "image.tag: Does not match pattern"),
    case("tag-template", {"image": {"tag": "{{ .Values.x }}"}}, "image.tag", "image.tag: Does not match pattern"),
    case("name-override-colon", {"nameOverride": "a: b"}, "nameOverride", "nameOverride: Does not match pattern"),
    case("fullname-template", {"fullnameOverride": "{{ .Release.Name }}"}, "fullnameOverride",
         "fullnameOverride: Does not match pattern"),
    case("claim-colon", {"persistence": {"data": {"existingClaim": "claim: x"}}}, "persistence.data.existingClaim",
         "persistence.data.existingClaim: Does not match pattern"),
    case("mount-path-colon", {"persistence": {"data": {"mountPath": "/data: x"}}}, "persistence.data.mountPath",
         "persistence.data.mountPath: Does not match pattern"),
    case("mount-path-newline", {"persistence": {"output": {"mountPath": "/out\nx: y"}}},
         "persistence.output.mountPath", "persistence.output.mountPath: Does not match pattern"),
    case("gateway-template", {"ezua": {"virtualService": {"istioGateway": "{{ x }}"}}},
         "ezua.virtualService.istioGateway", "ezua.virtualService.istioGateway: Does not match pattern"),
    case("provider-newline", {"ezua": {"authorizationPolicy": {"providerName": "oauth2-proxy\nx: y"}}},
         "ezua.authorizationPolicy.providerName", "ezua.authorizationPolicy.providerName: Does not match pattern"),
    case("label-newline", {"podLabels": {"team": "ml\nx: y"}}, "podLabels.team", "podLabels.team: Does not match"),
    case("annotation-newline", {"podAnnotations": {"note": "a\nb: c"}}, "podAnnotations.note",
         "podAnnotations.note: Does not match pattern"),
    case("token-newline", {"huggingface": {"token": "hf_x\nx: y"}}, "huggingface.token",
         "huggingface.token: Does not match pattern"),
    case("api-key-newline", {"api": {"apiKey": "k\nx"}}, "api.apiKey", "api.apiKey: Does not match pattern"),
    case("model-newline", api(model="org/model\n--x"), "api.model", "api.model: Does not match pattern"),
    case("template-colon", api(template="qwen: x"), "api.template", "api.template: Does not match pattern"),
    case("adapter-newline", api(adapter="/app/output/a\nb"), "api.adapter", "api.adapter: Does not match pattern"),
    case("storage-class-newline", {"persistence": {"data": {"storageClass": "fast\nx"}}},
         "persistence.data.storageClass", "persistence.data.storageClass: Does not match pattern"),
    case("registry-newline", {"image": {"registry": "reg.example.com\nx"}}, "image.registry",
         "image.registry: Does not match pattern"),
    case("env-name-colon", {"extraEnv": [{"name": "A: B", "value": "1"}]}, "extraEnv[0].name",
         "extraEnv.0.name: Does not match pattern"),
    case("extra-arg-key-option", api(extraArgs={"x --y": "1"}), "api.extraArgs.x --y",
         'api.extraArgs: Property name of "x --y" does not match'),
    case("storage-class-template", {"persistence": {"data": {"storageClass": "{{ .Release.Name }}"}}},
         "persistence.data.storageClass"),
    case("toleration-value-newline", {"tolerations": [{"key": "k", "value": "a\nb: c"}]}, "tolerations[0].value",
         "tolerations.0.value: "),
    # GPU counts, requests and limits
    case("gpu-request-not-limit", {"resources": {"requests": {GPU: 1}, "limits": {GPU: 2}}},
         f"resources.requests.{GPU}"),
    case("gpu-half-request", {"resources": {"requests": {GPU: 0.5}}}, f"resources.requests.{GPU}",
         f"resources.requests.{GPU}: Invalid type"),
    case("gpu-fraction-text", {"resources": {"limits": {GPU: "1.5"}}}, f"resources.limits.{GPU}",
         f"resources.limits.{GPU}: Does not match pattern"),
    case("gpu-fraction-number", {"resources": {"limits": {GPU: 1.5}}}, f"resources.limits.{GPU}",
         f"resources.limits.{GPU}: Invalid type"),
    case("gpu-milli", {"resources": {"limits": {GPU: "500m"}}}, f"resources.limits.{GPU}",
         f"resources.limits.{GPU}: Does not match pattern"),
    case("claim-size-zero", {"persistence": {"data": {"size": "0"}}}, "persistence.data.size",
         'persistence.data.size: "0" is invalid: Kubernetes requires a claim larger than 0'),
    case("resource-name-without-domain", {"resources": {"limits": {"foo": "1"}}}, "resources.limits.foo",
         "resources.limits: Does not match pattern"),
    case("gpu-negative", {"resources": {"limits": {GPU: -1}}}, f"resources.limits.{GPU}",
         f"resources.limits.{GPU}: Must be greater than or equal to 0"),
    case("gpu-above-int64", {"resources": {"limits": {GPU: "99999999999999999999"}}}, f"resources.limits.{GPU}"),
    case("memory-request-above-limit", {"resources": {"requests": {"memory": "128Gi"}}},
         "resources.requests.memory"),
    case("cpu-request-above-limit", {"resources": {"requests": {"cpu": 16}}}, "resources.requests.cpu"),
    case("storage-request-above-limit",
         {"resources": {"requests": {"ephemeral-storage": "2Ti"}, "limits": {"ephemeral-storage": "1Ti"}}},
         "resources.requests.ephemeral-storage"),
    case("memory-request-overflow", {"resources": {"requests": {"memory": "1e400"}}}, "resources.requests.memory"),
    case("no-cpu-limit", {"resources": {"limits": {"cpu": None}}}, "resources.limits.cpu",
         required("resources.limits", "cpu")),
    # api mode without a model
    case("api-without-model", {"mode": "api"}, "api.model", "api.model: Invalid type. Expected: string, given: null"),
    case("api-model-null", {"mode": "api", "api": {"model": None}}, "api.model", required("api", "model")),
    case("api-model-empty", {"mode": "api", "api": {"model": ""}}, "api.model",
         "api.model: String length must be greater than or equal to 1"),
    case("api-model-option", {"mode": "api", "api": {"model": "--help"}}, "api.model",
         "api.model: Does not match pattern"),
    case("api-model-leading-space", {"mode": "api", "api": {"model": " org/m"}}, "api.model",
         "api.model: Does not match pattern"),
    case("extra-arg-own-key", api(extraArgs={"model_name_or_path": "x"}), "api.extraArgs",
         'api.extraArgs: Property name of "model_name_or_path" does not match'),
    case("extra-arg-secret", api(extraArgs={"hf_hub_token": "x"}), "api.extraArgs"),
    # names Kubernetes rejects
    case("name-override-capitals", {"nameOverride": "Llama"}, "nameOverride", "nameOverride: Does not match pattern"),
    case("name-override-underscore", {"nameOverride": "llama_factory"}, "nameOverride",
         "nameOverride: Does not match pattern"),
    case("name-override-64", {"nameOverride": "a" * 64}, "nameOverride",
         "nameOverride: String length must be less than or equal to 63"),
    case("fullname-capitals", {"fullnameOverride": "LlamaFactory"}, "fullnameOverride",
         "fullnameOverride: Does not match pattern"),
    case("fullname-underscore", {"fullnameOverride": "llama_factory"}, "fullnameOverride",
         "fullnameOverride: Does not match pattern"),
    case("fullname-64", {"fullnameOverride": "a" * 64}, "fullnameOverride",
         "fullnameOverride: String length must be less than or equal to 63"),
    case("fullname-leading-digit", {"fullnameOverride": "1lf"}, "fullnameOverride",
         "fullnameOverride: Does not match pattern"),
    case("release-name-key-capitals", {"releaseName": "LlamaFactory"}, "releaseName",
         "releaseName: Does not match pattern"),
    case("namespace-key-capitals", {"namespace": "ML"}, "namespace", "namespace: Does not match pattern"),
    case("namespace-key-64", {"namespace": "a" * 64}, "namespace",
         "namespace: String length must be less than or equal to 63"),
    case("claim-underscore", {"persistence": {"data": {"existingClaim": "my_claim"}}},
         "persistence.data.existingClaim", "persistence.data.existingClaim: Does not match pattern"),
    case("claim-double-dot", {"persistence": {"output": {"existingClaim": "a..b"}}},
         "persistence.output.existingClaim", "persistence.output.existingClaim: Does not match pattern"),
    case("claim-254", {"persistence": {"hfCache": {"existingClaim": "a" * 254}}},
         "persistence.hfCache.existingClaim",
         "persistence.hfCache.existingClaim: String length must be less than or equal to 253"),
    case("hf-secret-capitals", {"huggingface": {"existingSecret": "HF-Token"}}, "huggingface.existingSecret",
         "huggingface.existingSecret: Does not match pattern"),
    case("api-secret-space", {"api": {"existingSecret": "api key"}}, "api.existingSecret",
         "api.existingSecret: Does not match pattern"),
    case("secret-key-slash", {"api": {"existingSecret": "s", "existingSecretKey": "a/b"}},
         "api.existingSecretKey", "api.existingSecretKey: Does not match pattern"),
    case("pull-secret-space", {"imagePullSecrets": [{"name": "reg cred"}]}, "imagePullSecrets[0].name",
         "imagePullSecrets.0.name: Does not match pattern"),
    case("pull-secret-plain-capitals", {"imagePullSecrets": ["ok", "Regcred"]}, "imagePullSecrets[1].name",
         "imagePullSecrets.1: Does not match pattern"),
    case("gateway-namespace-capitals", {"ezua": {"authorizationPolicy": {"namespace": "Istio"}}},
         "ezua.authorizationPolicy.namespace", "ezua.authorizationPolicy.namespace: Does not match pattern"),
    case("gateway-namespace-64", {"ezua": {"authorizationPolicy": {"namespace": "a" * 64}}},
         "ezua.authorizationPolicy.namespace",
         "ezua.authorizationPolicy.namespace: String length must be less than or equal to 63"),
    case("allowed-namespace-space", {"networkPolicy": {"allowedNamespaces": ["Bad NS"]}},
         "networkPolicy.allowedNamespaces[0]", "networkPolicy.allowedNamespaces.0: Does not match pattern"),
    case("label-key-space", {"podLabels": {"bad key": "x"}}, "podLabels.bad key",
         'podLabels: Property name of "bad key" does not match'),
    case("label-value-64", {"podLabels": {"team": "a" * 64}}, "podLabels.team",
         "podLabels.team: String length must be less than or equal to 63"),
    case("node-selector-space", {"nodeSelector": {"pool": "gpu nodes"}}, "nodeSelector.pool",
         "nodeSelector.pool: Does not match pattern"),
    case("toleration-key-space", {"tolerations": [{"key": "bad key", "operator": "Exists"}]},
         "tolerations[0].key", "tolerations.0.key: "),
    # extraEnv: duplicates and variables the chart sets
    case("env-duplicate", {"extraEnv": [{"name": "A"}, {"name": "B"}, {"name": "A"}]}, "extraEnv[2].name"),
    case("env-hf-token", {"extraEnv": [{"name": "HF_TOKEN", "value": "hf_x"}]}, "extraEnv[0].name",
         "extraEnv.0.name: Must not validate the schema (not)"),
    case("env-api-key-second", {"extraEnv": [{"name": "A", "value": "1"}, {"name": "API_KEY", "value": "k"}]},
         "extraEnv[1].name", "extraEnv.1.name: Must not validate the schema (not)"),
    case("env-gradio-port", {"extraEnv": [{"name": "GRADIO_SERVER_PORT", "value": 7861}]}, "extraEnv[0].name",
         "extraEnv.0.name: Must not validate the schema (not)"),
    case("env-hf-home", {"extraEnv": [{"name": "HF_HOME", "value": "/x"}]}, "extraEnv[0].name",
         "extraEnv.0.name: Must not validate the schema (not)"),
    case("env-home", {"extraEnv": [{"name": "HOME", "value": "/x"}]}, "extraEnv[0].name",
         "extraEnv.0.name: Must not validate the schema (not)"),
    case("env-name-leading-digit", {"extraEnv": [{"name": "1A"}]}, "extraEnv[0].name",
         "extraEnv.0.name: Does not match pattern"),
    case("env-name-missing", {"extraEnv": [{"value": "1"}]}, "extraEnv[0].name", required("extraEnv.0", "name")),
    # mount paths that collide or hide system directories
    case("mount-same-as-output", {"persistence": {"data": {"mountPath": "/app/output/"}}},
         "persistence.output.mountPath"),
    case("mount-same-as-data", {"persistence": {"hfCache": {"mountPath": "/app/custom_data"}}},
         "persistence.data.mountPath"),
    case("mount-over-saves", {"persistence": {"data": {"mountPath": "/app/saves"}}},
         "persistence.webuiState.mountPath (saves)"),
    case("mount-dev-shm", {"persistence": {"output": {"mountPath": "/dev/shm"}}}, "persistence.output.mountPath"),
    case("mount-tmp", {"persistence": {"hfCache": {"mountPath": "/tmp"}}}, "persistence.hfCache.mountPath"),
    case("mount-root", {"persistence": {"data": {"mountPath": "/"}}}, "persistence.data.mountPath"),
    case("mount-proc", {"persistence": {"output": {"mountPath": "/proc"}}}, "persistence.output.mountPath"),
    case("mount-app", {"persistence": {"output": {"mountPath": "/app"}}}, "persistence.output.mountPath"),
    case("mount-relative", {"persistence": {"data": {"mountPath": "data"}}}, "persistence.data.mountPath",
         "persistence.data.mountPath: Does not match pattern"),
    case("state-outside-app", {"persistence": {"webuiState": {"mountPath": "/data/state"}}},
         "persistence.webuiState.mountPath"),
    case("mount-double-slash", {"persistence": {"data": {"mountPath": "/app//output"}}},
         "persistence.output.mountPath"),
    case("mount-etc", {"persistence": {"output": {"mountPath": "/etc"}}}, "persistence.output.mountPath"),
    # startup budget below 600 s
    case("startup-59-failures", {"probes": {"startup": {"failureThreshold": 59}}},
         "probes.startup.failureThreshold"),
    case("startup-api-3s-period", {**API, "probes": {"startup": {"periodSeconds": 3}}},
         "probes.startup.failureThreshold"),
    case("startup-599-seconds", {"probes": {"startup": {"periodSeconds": 1, "failureThreshold": 599}}},
         "probes.startup.failureThreshold"),
    # user 0 with runAsNonRoot
    case("root-pod-non-root", {"podSecurityContext": {"runAsUser": 0, "runAsNonRoot": True}},
         "podSecurityContext.runAsUser"),
    case("root-container-pod-non-root", {"podSecurityContext": {"runAsNonRoot": True}, "securityContext": {"runAsUser": 0}},
         "podSecurityContext.runAsUser"),
    case("root-container-non-root", {"securityContext": {"runAsUser": 0, "runAsNonRoot": True}},
         "podSecurityContext.runAsUser"),
    case("privileged-without-escalation", {"securityContext": {"privileged": True}}, "securityContext.privileged"),
    case("seccomp-localhost-without-profile", {"podSecurityContext": {"seccompProfile": {"type": "Localhost"}}},
         "podSecurityContext.seccompProfile.localhostProfile"),
    # tolerations Kubernetes rejects
    case("toleration-exists-with-value", {"tolerations": [{"key": "x", "operator": "Exists", "value": "v"}]},
         "tolerations[0].value"),
    case("toleration-no-key-equal", {"tolerations": [{"operator": "Equal"}]}, "tolerations[0].operator"),
    case("toleration-seconds-no-execute",
         {"tolerations": [{"key": "d", "effect": "NoSchedule", "tolerationSeconds": 30}]},
         "tolerations[0].tolerationSeconds"),
    # quantities
    case("size-word", {"persistence": {"hfCache": {"size": "lots"}}}, "persistence.hfCache.size",
         "persistence.hfCache.size: Does not match pattern"),
    case("size-negative", {"persistence": {"hfCache": {"size": "-1Gi"}}}, "persistence.hfCache.size",
         "persistence.hfCache.size: Does not match pattern"),
    case("size-space", {"persistence": {"data": {"size": "10 Gi"}}}, "persistence.data.size",
         "persistence.data.size: Does not match pattern"),
    case("size-gb", {"persistence": {"output": {"size": "100GB"}}}, "persistence.output.size",
         "persistence.output.size: Does not match pattern"),
    case("memory-word", {"resources": {"limits": {"memory": "lots"}}}, "resources.limits.memory",
         "resources.limits.memory: Does not match pattern"),
    case("cpu-negative", {"resources": {"requests": {"cpu": -1}}}, "resources.requests.cpu",
         "resources.requests.cpu: Must be greater than or equal to 0"),
    case("resource-name-space", {"resources": {"limits": {"nvidia gpu": 1}}}, "resources.limits.nvidia gpu",
         'resources.limits: Property name of "nvidia gpu" does not match'),
    # endpoint hosts and URLs
    case("endpoint-scheme", {"ezua": {"virtualService": {"endpoint": "https://lf.example.com/"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-port", {"ezua": {"virtualService": {"endpoint": "lf.example.com:443"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-space", {"ezua": {"virtualService": {"endpoint": "lf example.com"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-capitals", {"ezua": {"virtualService": {"endpoint": "LF.example.com"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-underscore", {"ezua": {"virtualService": {"endpoint": "lf_app.example.com"}}},
         "ezua.virtualService.endpoint", "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-empty", {"ezua": {"virtualService": {"endpoint": ""}}}, "ezua.virtualService.endpoint",
         "ezua.virtualService.endpoint: Does not match pattern"),
    case("endpoint-254", {"ezua": {"virtualService": {"endpoint": ("a" * 60 + ".") * 4 + "b" * 10}}},
         "ezua.virtualService.endpoint"),
    case("endpoint-label-64", {"ezua": {"virtualService": {"endpoint": "a" * 64 + ".example.com"}}},
         "ezua.virtualService.endpoint"),
    case("hub-endpoint-no-scheme", {"huggingface": {"endpoint": "hf-mirror.example.com"}}, "huggingface.endpoint",
         "huggingface.endpoint: Does not match pattern"),
    case("hub-endpoint-space", {"huggingface": {"endpoint": "https://hf mirror"}}, "huggingface.endpoint",
         "huggingface.endpoint: Does not match pattern"),
    case("route-timeout-no-unit", {"ezua": {"virtualService": {"timeout": "10"}}}, "ezua.virtualService.timeout",
         "ezua.virtualService.timeout: Does not match pattern"),
    case("route-timeout-zero", {"ezua": {"virtualService": {"timeout": "0s"}}}, "ezua.virtualService.timeout",
         "ezua.virtualService.timeout: Does not match pattern"),
    case("gateway-empty", {"ezua": {"virtualService": {"istioGateway": ""}}}, "ezua.virtualService.istioGateway",
         "ezua.virtualService.istioGateway: Does not match pattern"),
    # image references
    case("digest-short", {"image": {"digest": "sha256:abc"}}, "image.digest", "image.digest: Does not match pattern"),
    case("digest-md5", {"image": {"digest": "md5:" + "a" * 32}}, "image.digest",
         "image.digest: Does not match pattern"),
    case("registry-scheme", {"image": {"registry": "https://reg.example.com"}}, "image.registry",
         "image.registry: Does not match pattern"),
    case("registry-space", {"image": {"registry": "reg example.com"}}, "image.registry",
         "image.registry: Does not match pattern"),
    case("repository-capitals", {"image": {"repository": "Hiyouga/LlamaFactory"}}, "image.repository",
         "image.repository: Does not match pattern"),
    case("repository-with-tag", {"image": {"repository": "hiyouga/llamafactory:latest"}}, "image.repository",
         "image.repository: Does not match pattern"),
    case("repository-empty", {"image": {"repository": ""}}, "image.repository",
         "image.repository: Does not match pattern"),
    case("tag-spaces", {"image": {"tag": "latest --privileged"}}, "image.tag", "image.tag: Does not match pattern"),
    case("tag-129", {"image": {"tag": "a" * 129}}, "image.tag", "image.tag: Does not match pattern"),
    case("tag-leading-dot", {"image": {"tag": ".hidden"}}, "image.tag", "image.tag: Does not match pattern"),
    case("tag-with-digest", {"image": {"tag": "latest@sha256:abc"}}, "image.tag", "image.tag: Does not match pattern"),
    # unknown keys at several levels
    case("unknown-root", {"replicas": 1}, "replicas", unknown("(root)", "replicas")),
    case("unknown-snake-case", {"shm_size": 16}, "shm_size", unknown("(root)", "shm_size")),
    case("unknown-image", {"image": {"tags": "latest"}}, "image.tags", unknown("image", "tags")),
    case("unknown-route", {"ezua": {"virtualService": {"hosts": ["lf.example.com"]}}}, "ezua.virtualService.hosts",
         unknown("ezua.virtualService", "hosts")),
    case("unknown-claim", {"persistence": {"hfCache": {"sise": "1Gi"}}}, "persistence.hfCache.sise",
         unknown("persistence.hfCache", "sise")),
    case("unknown-volume", {"persistence": {"models": {"size": "1Gi"}}}, "persistence.models",
         unknown("persistence", "models")),
    case("unknown-env-key", {"extraEnv": [{"name": "A", "valueFrom": {}}]}, "extraEnv[0].valueFrom",
         unknown("extraEnv.0", "valueFrom")),
    case("unknown-probe-key", {"probes": {"startup": {"initialDelaySeconds": 30}}},
         "probes.startup.initialDelaySeconds", unknown("probes.startup", "initialDelaySeconds")),
    case("unknown-resources-key", {"resources": {"claims": []}}, "resources.claims", unknown("resources", "claims")),
    case("unknown-toleration-key", {"tolerations": [{"key": "k", "seconds": 5}]}, "tolerations[0].seconds",
         unknown("tolerations.0", "seconds")),
    case("unknown-capabilities-key", {"securityContext": {"capabilities": {"addd": ["X"]}}},
         "securityContext.capabilities.addd", unknown("securityContext.capabilities", "addd")),
    case("unknown-pod-security-key", {"podSecurityContext": {"sysctls": []}}, "podSecurityContext.sysctls",
         unknown("podSecurityContext", "sysctls")),
    case("unknown-kyverno-key", {"ezua": {"kyverno": {"enabled": False, "policy": "x"}}}, "ezua.kyverno.policy",
         unknown("ezua.kyverno", "policy")),
    case("unknown-network-policy-key", {"networkPolicy": {"from": []}}, "networkPolicy.from",
         unknown("networkPolicy", "from")),
    case("unknown-affinity-kind", {"affinity": {"nodeAffinty": {}}}, "affinity.nodeAffinty",
         'affinity: Additional property nodeAffinty is not allowed'),
    case("unknown-affinity-nested",
         {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
             "nodeSelectorTerms": [{"matchExpression": []}]}}}},
         "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpression",
         "affinity.nodeAffinity"),
    # the deprecated service.targetPort
    case("target-port-other-port", {"service": {"targetPort": 8000}}, "service.targetPort"),
    # training runs
    case("training-without-model", {"training": {"enabled": True, "args": {"dataset": "d"}}}, "training.args.model",
         "training.args.model: Invalid type. Expected: string, given: null"),
    case("training-without-dataset", {"training": {"enabled": True, "args": {"model": "m"}}}, "training.args.dataset",
         "training.args.dataset: Invalid type. Expected: string, given: null"),
    case("training-rwo-output", TRAINING_TWO_NODES, "persistence.output.accessMode",
         "persistence.output.accessMode: ReadWriteOnce cannot be shared by training.nodes: 2, because every "
         "training pod mounts this claim and a pod on another node cannot attach it; set "
         "persistence.output.accessMode: ReadWriteMany (with a storage class that supports it) or "
         "training.nodes: 1. A claim that exists keeps its access mode: copy its data to a new ReadWriteMany "
         "claim and set persistence.output.existingClaim"),
    case("training-rwo-model-cache",
         {**TRAINING_TWO_NODES, "persistence": {"output": {"accessMode": "ReadWriteMany"}}},
         "persistence.hfCache.accessMode"),
    case("training-rox-output",
         {**TRAINING_TWO_NODES, "persistence": {name: {"accessMode": "ReadOnlyMany"} for name in ("output", "hfCache", "data")}},
         "persistence.output.accessMode"),
    case("training-env-node-rank", {**TRAINING, "extraEnv": [{"name": "NODE_RANK", "value": "1"}]}, "extraEnv[0].name"),
    case("training-output-disabled", {**TRAINING, "persistence": {"output": {"enabled": False}}},
         "persistence.output.enabled"),
    case("training-dataset-dir-on-disabled-data",
         {"training": {**TRAINING["training"], "args": {**TRAINING["training"]["args"], "datasetDir": "/app/custom_data/sets"}},
          "persistence": {"data": {"enabled": False}}},
         "training.args.datasetDir"),
    case("training-dataset-dir-on-disabled-cache",
         {"training": {**TRAINING["training"], "args": {**TRAINING["training"]["args"], "datasetDir": "/cache/hf//"}},
          "persistence": {"hfCache": {"enabled": False, "mountPath": "/cache/hf"}}},
         "training.args.datasetDir"),
    case("training-extra-arg-own-key", {"training": {"args": {"extraArgs": {"output_dir": "/x"}}}},
         "training.args.extraArgs", 'training.args.extraArgs: Property name of "output_dir" does not match'),
    case("training-extra-arg-secret", {"training": {"args": {"extraArgs": {"hub_token": "x"}}}},
         "training.args.extraArgs"),
    # A YAML 1.1 reader turns these keys of train.yaml into booleans or null.
    case("training-extra-arg-yaml-keyword", {"training": {"args": {"extraArgs": {"yes": 1}}}},
         "training.args.extraArgs", 'training.args.extraArgs: Property name of "yes" does not match'),
    case("training-nodes-0", {"training": {"nodes": 0}}, "training.nodes",
         "training.nodes: Must be greater than or equal to 1"),
    case("training-engine-mpi", {"training": {"engine": "mpijob"}}, "training.engine"),
    case("training-run-name-capitals", {"training": {"runName": "Run1"}}, "training.runName",
         "training.runName: Does not match pattern"),
    case("training-learning-rate-zero", {"training": {"args": {"learningRate": 0}}}, "training.args.learningRate"),
    case("training-model-newline", {"training": {"args": {"model": "org/m\nx: y"}}}, "training.args.model",
         "training.args.model: Does not match pattern"),
    case("training-gpu-request-not-limit",
         {"training": {"resources": {"requests": {GPU: 1}, "limits": {GPU: 2}}}},
         f"training.resources.requests.{GPU}"),
    case("training-no-cpu-limit", {"training": {"resources": {"limits": {"cpu": None}}}}, "training.resources.limits.cpu",
         required("training.resources.limits", "cpu")),
]



def settings_mapping(settings: dict[str, Any] | str) -> Any:
    """Return the settings as the model reads them: YAML text is parsed first."""
    return yaml.safe_load(settings) if isinstance(settings, str) else settings


def helm_problems(message: str) -> list[str]:
    """Return Helm's problem lines without their ``- ``, ``Error: `` or ``execution
    error at (…)`` prefix."""
    problems = []
    failing = False
    for line in message.splitlines():
        if line.startswith("- "):
            problems.append(line[2:])
        elif match := ERROR_LINE.match(line):
            problems.append(match[1])
            failing = line.startswith("Error: execution error")
        elif failing and line:
            # A chart check that found several problems fails with one per line.
            problems.append(line)
        else:
            failing = False
    return problems


def problem_for(problems: list[str], prefix: str) -> str:
    """Return the first problem that starts with ``prefix``, and fail when none does."""
    found = [problem for problem in problems if problem.startswith(prefix)]
    assert found, f"no problem starts with {prefix!r}: {problems}"
    return found[0]


@pytest.fixture
def helm_runs(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.CompletedProcess[str]]:
    """Record every process that helm_support runs, so that a test can read helm's
    stdout after helm_template raised HelmError."""
    require_tool("helm")
    runs: list[subprocess.CompletedProcess[str]] = []
    real_run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run

    def recording_run(*arguments: Any, **options: Any) -> subprocess.CompletedProcess[str]:
        result = real_run(*arguments, **options)
        runs.append(result)
        return result

    monkeypatch.setattr(helm_support.subprocess, "run", recording_run)
    return runs


def test_table_covers_enough_files() -> None:
    ids = [param.id for param in BAD_FILES]
    checked = [param for param in BAD_FILES if not param.marks]

    assert len(checked) >= 45
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("settings", "key", "helm_prefix"), BAD_FILES)
def test_bad_file_rejected_by_helm_and_model(
    helm_runs: list[subprocess.CompletedProcess[str]], settings: dict[str, Any] | str, key: str, helm_prefix: str
) -> None:
    with pytest.raises(HelmError) as helm_error:
        helm_template(settings, chart=CHART_DIR)
    with pytest.raises(SettingsError) as model_error:
        values_from_mapping(settings_mapping(settings))

    problem_for(helm_problems(str(helm_error.value)), helm_prefix)
    assert helm_runs[-1].stdout == ""
    problem_for(model_error.value.problems, f"{key}: ")


def test_archive_rejects_every_bad_file(helm_runs: list[subprocess.CompletedProcess[str]]) -> None:
    misses = []

    for param in BAD_FILES:
        if param.marks:
            continue
        settings, _key, helm_prefix = param.values
        try:
            helm_template(settings, chart=ARCHIVE)
        except HelmError as error:
            problems = helm_problems(str(error))
            if not any(problem.startswith(helm_prefix) for problem in problems):
                misses.append(f"{param.id}: no problem starts with {helm_prefix!r}: {problems}")
            if helm_runs[-1].stdout:
                misses.append(f"{param.id}: helm wrote to stdout")
        else:
            misses.append(f"{param.id}: rendered")

    assert misses == []


# --- names from the helm command line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "namespace", "key", "helm_prefix"),
    [
        pytest.param("Llama_Factory", "llamafactory", "releaseName", 'release name "Llama_Factory": invalid',
                     id="release-capitals"),
        pytest.param("a" * 54, "llamafactory", "releaseName", f'release name "{"a" * 54}": invalid', id="release-54"),
        # helm allows these names; the chart's own check refuses them.
        pytest.param("1lf", "llamafactory", "releaseName", 'release name "1lf": ', id="release-leading-digit"),
        pytest.param("a.b", "llamafactory", "releaseName", 'release name "a.b": ', id="release-dot"),
        pytest.param("lf", "Team_A", "namespace", 'namespace "Team_A": ', id="namespace-underscore"),
    ],
)
def test_command_line_name_rejected(
    helm_runs: list[subprocess.CompletedProcess[str]], release: str, namespace: str, key: str, helm_prefix: str
) -> None:
    with pytest.raises(HelmError) as helm_error:
        helm_template({}, release=release, namespace=namespace)
    with pytest.raises(SettingsError) as model_error:
        python_objects({}, release=release, namespace=namespace)

    problem_for(helm_problems(str(helm_error.value)), helm_prefix)
    assert helm_runs[-1].stdout == ""
    problem_for(model_error.value.problems, f"{key}: ")


@pytest.mark.parametrize(
    ("settings", "keys"),
    [
        pytest.param(
            TRAINING_TWO_NODES,
            ["persistence.output.accessMode", "persistence.hfCache.accessMode", "persistence.data.accessMode"],
            id="three-rwo-claims",
        ),
        pytest.param(
            {**TRAINING, "persistence": {"output": {"enabled": False}, "data": {"enabled": False}},
             "training": {**TRAINING["training"], "args": {**TRAINING["training"]["args"], "datasetDir": "/app/custom_data"}},
             "extraEnv": [{"name": "MASTER_ADDR", "value": "x"}]},
            ["persistence.output.enabled", "training.args.datasetDir", "extraEnv[0].name"],
            id="output-dataset-env",
        ),
    ],
)
def test_every_training_problem_reported(
    helm_runs: list[subprocess.CompletedProcess[str]], settings: dict[str, Any], keys: list[str]
) -> None:
    with pytest.raises(HelmError) as helm_error:
        helm_template(settings, chart=CHART_DIR)
    with pytest.raises(SettingsError) as model_error:
        values_from_mapping(settings)

    helm_keys = [problem.split(": ", 1)[0] for problem in helm_problems(str(helm_error.value))]
    model_keys = [problem.split(": ", 1)[0] for problem in model_error.value.problems]
    assert helm_keys == keys
    assert model_keys == keys


def test_problem_lines_are_parsed() -> None:
    schema = (
        "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "llamafactory:\n- image.tag: Does not match pattern '^x$'\n"
    )
    failed = "Error: execution error at (llamafactory/templates/deployment.yaml:3:4): extraEnv[2].name: A is listed twice"

    assert "image.tag: Does not match pattern '^x$'" in helm_problems(schema)
    assert helm_problems(failed) == ["extraEnv[2].name: A is listed twice"]
    assert helm_problems(f"{failed}\nextraEnv[3].name: B is listed twice\n\nUse --debug flag") == [
        "extraEnv[2].name: A is listed twice",
        "extraEnv[3].name: B is listed twice",
    ]
