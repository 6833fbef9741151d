"""Every key of the chart's values.yaml is live: changing it changes the render.

Each leaf of ``dist/llamafactory/values.yaml`` has a row in LEAF_CHANGES with a valid
new value and, where the key matters only in some setting, the context that makes it
matter (api keys need api mode, a Secret key needs the Secret). The test renders the
context alone and the context plus the change with ``helm template``, requires the
two renders to differ, and requires the constructs to synthesize the same objects as
helm for both files. A key that changes nothing fails, and so does a leaf of
values.yaml without a row or a row whose key values.yaml no longer has.

A leaf is a scalar, a list, an empty map, or one of the maps in MAP_LEAVES, whose
keys are chosen by the user rather than by the chart.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
import pytest
import yaml

from conftest import require_tool
from helm_support import CHART_DIR, Manifest, assert_same_objects, by_identity, helm_template, python_objects

GPU = "nvidia.com/gpu"
API = {"mode": "api", "api": {"model": "org/model"}}

MAP_LEAVES = {
    "resources.requests",
    "resources.limits",
    "podLabels",
    "podAnnotations",
    "nodeSelector",
    "affinity",
    "api.extraArgs",
    "ezua.authorizationPolicy.matchLabels",
    "training.resources.requests",
    "training.resources.limits",
    "training.args.extraArgs",
}
"""Maps that count as one leaf: their keys are resource names, labels or arguments."""


class _Flip:
    def __repr__(self) -> str:
        return "FLIP"


FLIP: Any = _Flip()
"""A boolean change: the opposite of the default in values.yaml, so a changed default
does not turn the row into a no-op."""


@dataclass(frozen=True)
class Change:
    """A new value for one leaf, and the settings it needs to matter."""

    value: Any
    context: dict[str, Any] = field(default_factory=dict)
    gap: str | None = None
    """Reason for a strict xfail: the key changes nothing for any valid value."""


def claim(name: str) -> dict[str, Any]:
    """Return the settings that create the claim ``name``."""
    return {"persistence": {name: {"enabled": True, "existingClaim": ""}}}


def claim_changes(name: str, mount_path: Change | None) -> dict[str, Change]:
    """Rows for one claim; ``mount_path`` is None where values.yaml has no such key."""
    changes = {
        f"persistence.{name}.enabled": Change(FLIP),
        f"persistence.{name}.size": Change("321Gi", claim(name)),
        f"persistence.{name}.storageClass": Change("fast-ssd", claim(name)),
        f"persistence.{name}.accessMode": Change("ReadWriteMany", claim(name)),
        f"persistence.{name}.existingClaim": Change(f"{name.lower()}-claim", claim(name)),
    }
    if mount_path is not None:
        changes[f"persistence.{name}.mountPath"] = mount_path
    return changes


def probe_changes(name: str, period: int, failures: int, timeout: int) -> dict[str, Change]:
    return {
        f"probes.{name}.periodSeconds": Change(period),
        f"probes.{name}.failureThreshold": Change(failures),
        f"probes.{name}.timeoutSeconds": Change(timeout),
    }


TRAIN_ARGS = {"model": "org/model", "dataset": "alpaca_en_demo"}
TRAIN = {"training": {"enabled": True, "args": TRAIN_ARGS}}
RWX = {"persistence": {name: {"accessMode": "ReadWriteMany"} for name in ("hfCache", "data", "output")}}
TRAIN_NODES = {"training": {"enabled": True, "nodes": 2, "args": TRAIN_ARGS}, **RWX}


def training_changes() -> dict[str, Change]:
    """Rows for the training run: each key matters once a run is enabled, and the
    rendezvous settings once it spans several nodes."""
    args = {
        "model": "org/other-model",
        "stage": "pt",
        "finetuningType": "full",
        "loraRank": 16,
        "loraTarget": "q_proj,v_proj",
        "dataset": "identity",
        "datasetDir": "/app/custom_data",
        "template": "qwen",
        "cutoffLen": 1024,
        "maxSamples": 100,
        "perDeviceTrainBatchSize": 2,
        "gradientAccumulationSteps": 4,
        "learningRate": 2e-5,
        "numTrainEpochs": 1.5,
        "maxSteps": 10,
        "precision": "fp32",
        "loggingSteps": 1,
        "saveSteps": 5,
        "extraArgs": {"lora_alpha": 16},
    }
    changes = {f"training.args.{key}": Change(value, TRAIN) for key, value in args.items()}
    changes.update(
        {
            "training.enabled": Change(FLIP, {"training": {"args": TRAIN_ARGS}}),
            "training.runName": Change("run2", TRAIN),
            "training.nodes": Change(4, {**TRAIN, **RWX}),
            "training.engine": Change("indexedJob", TRAIN_NODES),
            "training.masterPort": Change(29501, TRAIN_NODES),
            "training.backoffLimit": Change(2, TRAIN),
            "training.resources.requests": Change({"cpu": "4", "memory": "32Gi"}, TRAIN),
            "training.resources.limits": Change({"cpu": "16", "memory": "128Gi", GPU: 4}, TRAIN),
        }
    )
    return changes


LEAF_CHANGES: dict[str, Change] = {
    "nameOverride": Change("board"),
    "fullnameOverride": Change("lf"),
    "mode": Change("api", {"api": {"model": "org/model"}}),
    "replicaCount": Change(0),
    "image.registry": Change("registry.example.com:5000"),
    "image.repository": Change("mirror/llamafactory"),
    "image.tag": Change("0.9.4"),
    "image.digest": Change("sha256:" + "a" * 64),
    # Neither the old default (IfNotPresent) nor the new one (Always).
    "image.pullPolicy": Change("Never"),
    "imagePullSecrets": Change(["regcred"]),
    "gradio.serverPort": Change(7861, {"mode": "webui"}),
    "gradio.serverName": Change("::", {"mode": "webui"}),
    "api.port": Change(8080, API),
    "api.model": Change("org/other-model", API),
    "api.template": Change("qwen", API),
    "api.inferBackend": Change("vllm", API),
    "api.adapter": Change("/app/output/lora", API),
    "api.extraArgs": Change({"trust_remote_code": True}, API),
    "api.apiKey": Change("sk-test", API),
    "api.existingSecret": Change("api-secret", API),
    "api.existingSecretKey": Change("key", {**API, "api": {"model": "org/model", "existingSecret": "api-secret"}}),
    "huggingface.token": Change("hf_test"),
    "huggingface.existingSecret": Change("hf-secret"),
    "huggingface.existingSecretKey": Change("hf-token", {"huggingface": {"existingSecret": "hf-secret"}}),
    "huggingface.endpoint": Change("https://hf-mirror.example.com"),
    "huggingface.offline": Change(FLIP),
    "extraEnv": Change([{"name": "NCCL_DEBUG", "value": "INFO"}]),
    "service.type": Change("NodePort"),
    "service.port": Change(80),
    "resources.requests": Change({"cpu": "4", "memory": "32Gi"}),
    "resources.limits": Change({"cpu": "16", "memory": "128Gi", GPU: 2}),
    "shmSizeGi": Change(8),
    **claim_changes("hfCache", Change("/models")),
    **claim_changes("data", Change("/data")),
    **claim_changes("output", Change("/outputs")),
    # webuiState.mountPath must stay /app, so values.yaml leaves it out.
    **claim_changes("webuiState", None),
    **probe_changes("startup", 20, 90, 7),
    **probe_changes("readiness", 15, 4, 7),
    **probe_changes("liveness", 60, 6, 10),
    "podSecurityContext.runAsUser": Change(1000),
    "podSecurityContext.runAsGroup": Change(1000),
    "podSecurityContext.runAsNonRoot": Change(True),
    "podSecurityContext.fsGroup": Change(1000),
    "podSecurityContext.fsGroupChangePolicy": Change("OnRootMismatch"),
    "podSecurityContext.supplementalGroups": Change([1000]),
    "podSecurityContext.seccompProfile.type": Change("Unconfined"),
    "podSecurityContext.seccompProfile.localhostProfile": Change(
        "profiles/b.json",
        {"podSecurityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/a.json"}}},
    ),
    "securityContext.allowPrivilegeEscalation": Change(FLIP),
    "securityContext.privileged": Change(True, {"securityContext": {"allowPrivilegeEscalation": True}}),
    "securityContext.readOnlyRootFilesystem": Change(FLIP),
    "securityContext.runAsNonRoot": Change(True),
    "securityContext.runAsUser": Change(1000),
    "securityContext.runAsGroup": Change(1000),
    "securityContext.capabilities.add": Change(["SYS_PTRACE"]),
    "securityContext.capabilities.drop": Change(["NET_RAW"]),
    "securityContext.seccompProfile": Change({"type": "Unconfined"}),
    "podLabels": Change({"team": "ml"}),
    "podAnnotations": Change({"example.com/note": "fine-tuning"}),
    "tolerations": Change([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
    "nodeSelector": Change({"pool": "gpu"}),
    "affinity": Change(
        {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
                }
            }
        }
    ),
    "hostIPC": Change(FLIP),
    "networkPolicy.enabled": Change(FLIP),
    "networkPolicy.allowedNamespaces": Change(["istio-system", "notebooks"], {"networkPolicy": {"enabled": True}}),
    "ezua.virtualService.enabled": Change(FLIP),
    "ezua.virtualService.endpoint": Change("lf.example.com", {"ezua": {"virtualService": {"enabled": True}}}),
    "ezua.virtualService.istioGateway": Change(
        "istio-system/other-gateway", {"ezua": {"virtualService": {"enabled": True}}}
    ),
    "ezua.virtualService.timeout": Change("300s", {"ezua": {"virtualService": {"enabled": True}}}),
    "ezua.authorizationPolicy.enabled": Change(FLIP, {"ezua": {"virtualService": {"enabled": True}}}),
    "ezua.authorizationPolicy.namespace": Change(
        "gateways", {"ezua": {"virtualService": {"enabled": True}, "authorizationPolicy": {"enabled": True}}}
    ),
    "ezua.authorizationPolicy.providerName": Change(
        "keycloak", {"ezua": {"virtualService": {"enabled": True}, "authorizationPolicy": {"enabled": True}}}
    ),
    "ezua.authorizationPolicy.matchLabels": Change(
        {"app": "gateway"}, {"ezua": {"virtualService": {"enabled": True}, "authorizationPolicy": {"enabled": True}}}
    ),
    **training_changes(),
}
"""A changed valid value for every leaf of values.yaml, by dotted key."""


def chart_defaults() -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))


def leaf_paths(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return every leaf of a values mapping with its value, by dotted key."""
    leaves: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in MAP_LEAVES:
            leaves.update(leaf_paths(value, f"{path}."))
        else:
            leaves[path] = value
    return leaves


def nested(path: str, value: Any) -> dict[str, Any]:
    """Return ``{a: {b: value}}`` for the path ``a.b``."""
    *parents, last = path.split(".")
    settings: dict[str, Any] = {last: value}
    for parent in reversed(parents):
        settings = {parent: settings}
    return settings


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: maps key by key, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict) and value:
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def changed_value(path: str, change: Change, defaults: dict[str, Any]) -> Any:
    if change.value is FLIP:
        default = defaults[path]
        assert isinstance(default, bool), f"{path}: FLIP needs a boolean default, got {default!r}"
        return not default
    return change.value


@functools.cache
def context_render(context_json: str) -> list[Manifest]:
    """Render a context with helm once, after checking that the constructs agree."""
    context = json.loads(context_json)
    helm = helm_template(context)
    assert_same_objects(copy.deepcopy(helm), python_objects(context))
    return helm


def differing_objects(before: list[Manifest], after: list[Manifest]) -> list[tuple[str, str, str]]:
    """Return the identities of objects that were added, removed or changed."""
    first, second = by_identity(copy.deepcopy(before)), by_identity(copy.deepcopy(after))
    return sorted(key for key in first.keys() | second.keys() if first.get(key) != second.get(key))


def leaf_params() -> list[Any]:
    params = []
    for path, change in sorted(LEAF_CHANGES.items()):
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=change.gap)] if change.gap else []
        params.append(pytest.param(path, id=path, marks=marks))
    return params


# --- the table against values.yaml ------------------------------------------------------------


def test_every_leaf_has_a_change() -> None:
    leaves = leaf_paths(chart_defaults())

    missing = sorted(set(leaves) - set(LEAF_CHANGES))

    assert missing == [], "values.yaml has leaves without a row in LEAF_CHANGES"


def test_every_change_names_a_leaf() -> None:
    leaves = leaf_paths(chart_defaults())

    stale = sorted(set(LEAF_CHANGES) - set(leaves))

    assert stale == [], "LEAF_CHANGES has rows for keys that values.yaml no longer has"


def test_changes_differ_from_the_defaults() -> None:
    defaults = leaf_paths(chart_defaults())

    same = []
    for path, change in LEAF_CHANGES.items():
        if path in defaults and not change.gap and changed_value(path, change, defaults) == defaults[path]:
            same.append(path)

    assert same == [], "these rows set the value that values.yaml already has"


def test_leaves_stop_at_user_maps() -> None:
    leaves = leaf_paths({"resources": {"limits": {"cpu": "8"}}, "image": {"tag": "1"}, "podLabels": {}, "a": {"b": {}}})

    assert leaves == {"resources.limits": {"cpu": "8"}, "image.tag": "1", "podLabels": {}, "a.b": {}}


def test_same_file_renders_alike() -> None:
    require_tool("helm")

    # The leaf test relies on a render that changes only with its input.
    assert helm_template({}) == helm_template({})


# --- each leaf ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", leaf_params())
def test_leaf_changes_the_render(path: str) -> None:
    require_tool("helm")
    change = LEAF_CHANGES[path]
    value = changed_value(path, change, leaf_paths(chart_defaults()))
    settings = merged(change.context, nested(path, value))

    before = context_render(json.dumps(change.context, sort_keys=True))
    after = helm_template(settings)

    assert differing_objects(before, after), f"{path}: {value!r} changes nothing in the render"
    assert_same_objects(after, python_objects(settings))
