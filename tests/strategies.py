"""Hypothesis strategies for values files, derived from the values model.

Every leaf of the chart's values.yaml gets a strategy from its type and constraints:
choices for literals, the bounds of integers, the pattern of strings. Maps and lists
get hand-written strategies with realistic keys. Leaf strategies draw valid values.
INVALID has, for every leaf, values of the wrong type or out of range. A file drawn
with ``invalid=True`` carries one of them, so both renderers must refuse it. Cross-field rules (mount paths, GPU counts, startup budget) are
left to chance: files that break them must be refused too.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from typing import Annotated, Any, Literal

import annotated_types
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo

from llamafactory_cdk8s.errors import LlamaFactoryError
from llamafactory_cdk8s.helm_values import NOT_IN_VALUES_YAML
from llamafactory_cdk8s.loading import values_from_mapping
from llamafactory_cdk8s.values import Values, nested_model

# Strings that try to leave their YAML scalar or run template code.
HOSTILE = ["a: b", "x\ny: z", '"quoted"', "{{ .Release.Name }}", "- item", "#comment", "", " ", "null", "1e3"]

LABEL_KEYS = st.sampled_from(["team", "example.com/owner", "tier", "app.kubernetes.io/name", "hpe-ezua/app"])
LABEL_VALUES = st.from_regex(r"\A([a-z0-9]([-a-z0-9_.]{0,8}[a-z0-9])?)?\Z")
QUANTITIES = st.one_of(
    st.sampled_from(["1", "2", "500m", "8", "1.5", "64Gi", "512Mi", "1Ti", "100M", "1e3", "0"]),
    st.integers(0, 64),
)
PATHS = st.sampled_from(["/data", "/models", "/app/custom_data", "/app/output", "/mnt/a/", "/cache/huggingface", "/tmp", "/app/data"])


# Printable ASCII; the tests for other characters are written by hand.
ASCII = st.characters(min_codepoint=32, max_codepoint=126)


def _resources() -> st.SearchStrategy[dict[str, Any]]:
    def side(gpus: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {},
            optional={
                "cpu": QUANTITIES,
                "memory": st.sampled_from(["8Gi", "64Gi", "512Mi", "100G", 1000000000]),
                "nvidia.com/gpu": gpus,
                "ephemeral-storage": st.sampled_from(["10Gi", "1Ti"]),
            },
        )

    gpus = st.one_of(st.integers(0, 4), st.sampled_from(["1", "2", "500m"]))
    # A GPU request unequal to the limit is refused; requests name GPUs less often.
    requests = st.one_of(side(st.nothing()), side(st.nothing()), side(gpus))
    return st.fixed_dictionaries({}, optional={"requests": requests, "limits": side(gpus)})


SECCOMP_PROFILES = st.sampled_from(
    [{"type": "RuntimeDefault"}, {"type": "Localhost", "localhostProfile": "profiles/lf.json"}, {"type": "Unconfined"}, {}]
)


def _tolerations() -> st.SearchStrategy[list[dict[str, Any]]]:
    keys = st.sampled_from(["nvidia.com/gpu", "dedicated", "team"])
    exists = st.fixed_dictionaries(
        {"key": keys, "operator": st.just("Exists")},
        optional={"effect": st.sampled_from(["NoSchedule", "PreferNoSchedule"])},
    )
    equal = st.fixed_dictionaries(
        {"key": keys, "value": st.sampled_from(["gpu", "a"])},
        optional={"operator": st.just("Equal"), "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule"])},
    )
    evicting = st.fixed_dictionaries(
        {"key": keys, "operator": st.just("Exists"), "effect": st.just("NoExecute")},
        optional={"tolerationSeconds": st.integers(0, 10_000_000)},
    )
    return st.lists(st.one_of(exists, equal, evicting), max_size=2)


OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "imagePullSecrets": st.lists(
        st.one_of(st.sampled_from(["regcred", "pull"]), st.fixed_dictionaries({"name": st.sampled_from(["regcred", "b"])})),
        max_size=2,
    ),
    "api.extraArgs": st.dictionaries(
        st.sampled_from(["trust_remote_code", "max_new_tokens", "temperature", "quantization_bit", "vllm_maxlen"]),
        st.one_of(st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False, allow_infinity=False, width=64), st.text(max_size=5)),
        max_size=3,
    ),
    # Names the chart sets itself, and repeated names, are refused; they are drawn
    # less often than others, so that most files still render.
    "extraEnv": st.lists(
        st.fixed_dictionaries(
            {"name": st.sampled_from(["NCCL_DEBUG", "OMP_NUM_THREADS", "X", "PYTHONUNBUFFERED", "TZ", "NCCL_DEBUG", "HF_HOME", "HOME"])},
            optional={"value": st.one_of(st.text(max_size=8), st.integers(-10, 10**9), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False))},
        ),
        max_size=3,
        unique_by=lambda variable: variable["name"],
    ),
    "resources": _resources(),
    "tolerations": _tolerations(),
    "podLabels": st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
    "podAnnotations": st.dictionaries(LABEL_KEYS, st.sampled_from(["x", "a: b", "{{ 1 }}", "", "true", "1"]), max_size=2),
    "nodeSelector": st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
    "affinity": st.sampled_from(
        [
            {},
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}},
        ]
    ),
    "podSecurityContext.seccompProfile": SECCOMP_PROFILES,
    # privileged needs allowPrivilegeEscalation, which is drawn on its own.
    "securityContext.privileged": st.sampled_from([False, False, False, True]),
    # Budgets below the 600 s floor are refused; most draws stay above it.
    "probes.startup.failureThreshold": st.one_of(
        st.none(), st.integers(60, 10_000), st.integers(60, 10_000), st.integers(1, 59)
    ),
    # api mode without a model is refused; most draws keep one.
    "api.model": st.sampled_from(["org/model", "/app/output/merged", "Qwen/Qwen2.5-0.5B-Instruct", None]),
    "securityContext.seccompProfile": st.one_of(st.none(), SECCOMP_PROFILES),
    "podSecurityContext.supplementalGroups": st.lists(st.integers(0, 10**7), max_size=2),
    "securityContext.capabilities.add": st.lists(st.sampled_from(["SYS_PTRACE", "IPC_LOCK"]), max_size=1),
    "securityContext.capabilities.drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=1),
    "networkPolicy.allowedNamespaces": st.lists(st.sampled_from(["istio-system", "team-a", "kubeflow"]), max_size=3),
    "ezua.authorizationPolicy.matchLabels": st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
    "image.registry": st.sampled_from(["", "${AIRGAP_REGISTRY}", "registry.example.com:5000", "reg.example.com/mirror/"]),
    "ezua.virtualService.endpoint": st.sampled_from(
        ["llamafactory.${DOMAIN_NAME}", "lf.example.com", "*.example.com", "lf-team-a.${DOMAIN_NAME}", "a.b.c", "bad host"]
    ),
    "shmSizeGi": st.one_of(st.integers(0, 64), st.sampled_from(["16", " 8 ", "x"])),
    "persistence.hfCache.mountPath": st.one_of(st.none(), PATHS),
    "persistence.data.mountPath": PATHS,
    "persistence.output.mountPath": PATHS,
    "persistence.webuiState.mountPath": st.sampled_from(["/app", "/app/", "/state"]),
    "persistence.hfCache.size": QUANTITIES,
    "persistence.data.size": QUANTITIES,
    "image.tag": st.one_of(st.sampled_from(["0.9.4", "latest", "", "v1.0-rc.1"]), st.integers(1, 99)),
    "training.resources": _resources(),
    # An enabled run without a model or a dataset is refused; most draws keep one.
    "training.args.model": st.sampled_from(["org/model", "Qwen/Qwen2.5-0.5B", "/app/output/merged", None]),
    "training.args.dataset": st.sampled_from(["alpaca_en_demo", "identity,alpaca_en_demo", None]),
    "training.args.learningRate": st.one_of(
        st.sampled_from([1e-4, 2e-5, 5e-6, 0.001, 1]), st.floats(1e-9, 1.0, exclude_min=False)
    ),
    "training.args.numTrainEpochs": st.one_of(st.sampled_from([1, 3.0, 0.5, 2.5]), st.floats(0.01, 100.0)),
    "training.args.extraArgs": st.dictionaries(
        st.sampled_from(["lora_alpha", "lora_dropout", "deepspeed", "report_to", "trust_remote_code", "val_size"]),
        st.one_of(
            st.booleans(),
            st.integers(-5, 10**12),
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.sampled_from(["tensorboard", "none", "/app/ds.json", "a<b&c", 'say "hi"']),
        ),
        max_size=3,
    ),
    # Several nodes need ReadWriteMany claims; TRAINING_RUNS draws files that have them.
    "training.nodes": st.sampled_from([1, 1, 2, 4]),
}

RWX_CLAIMS = {"persistence": {name: {"accessMode": "ReadWriteMany"} for name in ("hfCache", "data", "output")}}
TRAINING_RUNS = st.sampled_from(
    [
        {},
        {},
        {"training": {"enabled": True, "args": {"model": "org/model", "dataset": "alpaca_en_demo"}}},
        {
            "training": {"enabled": True, "nodes": 2, "args": {"model": "org/model", "dataset": "identity"}},
            **RWX_CLAIMS,
        },
        {
            "training": {
                "enabled": True,
                "nodes": 4,
                "engine": "indexedJob",
                "args": {"model": "org/model", "dataset": "identity"},
            },
            **RWX_CLAIMS,
        },
    ]
)
"""Base files with a training run on one node and on several, with claims they can share."""


def _unwrap(annotation: Any) -> tuple[list[Any], list[Any], bool]:
    """Return the non-None alternatives of an annotation, their constraints, and
    whether None is allowed."""
    alternatives: list[Any] = []
    metadata: list[Any] = []
    optional = False
    arguments = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    for argument in arguments:
        if argument is type(None):
            optional = True
        elif typing.get_origin(argument) is Annotated:
            base, *extra = typing.get_args(argument)
            alternatives.append(base)
            metadata.extend(extra)
        else:
            alternatives.append(argument)
    return alternatives, metadata, optional


def _model_accepts(path: str, value: Any) -> bool:
    """Whether the model accepts ``value`` at ``path`` in an otherwise default file."""
    try:
        values_from_mapping(_nest({path: value}))
    except LlamaFactoryError:
        return False
    return True


def _default(path: str) -> Any:
    node: Any = DEFAULTS
    for part in path.split("."):
        node = node[part]
    return node


def _leaf(field: FieldInfo, path: str) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Return strategies for valid and for invalid values of a leaf."""
    alternatives, metadata, optional = _unwrap(field.annotation)
    metadata = [*metadata, *field.metadata]
    valid: list[st.SearchStrategy[Any]] = []
    invalid: list[st.SearchStrategy[Any]] = [st.just({"a": 1}), st.just([1])]
    for alternative in alternatives:
        if typing.get_origin(alternative) is Literal:
            valid.append(st.sampled_from(list(typing.get_args(alternative))))
            invalid.append(st.sampled_from(["bogus", 1]))
        elif alternative is bool:
            valid.append(st.booleans())
            invalid.append(st.sampled_from(["yes", 1]))
        elif alternative is int:
            low = next((item.ge for item in metadata if isinstance(item, annotated_types.Ge)), 0)
            high = next((item.le for item in metadata if isinstance(item, annotated_types.Le)), 100_000)
            valid.append(st.integers(low, min(high, low + 100_000)))
            invalid.append(st.sampled_from([low - 1, high + 1, "8", 1.5, True]))
        elif alternative is str:
            pattern = next((item.pattern for item in metadata if isinstance(item, StringConstraints) and item.pattern), None)
            # Generate with \Z: Python's $ also matches before a final newline.
            anchored = re.sub(r"\$$", r"\\Z", pattern) if pattern else None
            text = st.from_regex(anchored, fullmatch=True, alphabet=ASCII) if anchored else st.text(ASCII, max_size=12)
            valid.append(text.filter(lambda value: len(value) <= 80))
            hostile = [value for value in HOSTILE if not _model_accepts(path, value)]
            invalid.append(st.sampled_from([*hostile, 7, True]))
    # null deletes a key in Helm; the model allows it only where the default is empty.
    if optional and _default(path) is None:
        valid.append(st.none())
    if not valid:
        raise TypeError(f"no strategy for {field.annotation!r}; add one to OVERRIDES")
    return st.one_of(valid), st.one_of(invalid)


DEFAULTS = Values().model_dump(by_alias=True)

INVALID: dict[str, st.SearchStrategy[Any]] = {}
"""Invalid values by leaf path, filled by leaf_strategies."""


def leaf_strategies(model: type[BaseModel] = Values, prefix: str = "") -> dict[str, st.SearchStrategy[Any]]:
    """Return a strategy for every leaf key of the chart's values.yaml, by dotted path."""
    found: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if key in NOT_IN_VALUES_YAML:
            continue
        if key in OVERRIDES:
            found[key] = OVERRIDES[key]
            wrong = [5.5, [{"bogus": 1}], {"bogus": {"a": 1}}]
            INVALID[key] = st.sampled_from([value for value in wrong if not _model_accepts(key, value)])
            continue
        section = nested_model(field.annotation)
        if section is not None and typing.get_origin(field.annotation) is not list:
            found.update(leaf_strategies(section, f"{key}."))
        else:
            found[key], INVALID[key] = _leaf(field, key)
    return found


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return nested


LEAVES = leaf_strategies()

MODES = st.sampled_from([{}, {}, {"mode": "api", "api": {"model": "org/model"}}])


@st.composite
def values_files(draw: st.DrawFn, max_leaves: int = 8, invalid: bool = False) -> dict[str, Any]:
    """Draw a values file: a mode, then up to ``max_leaves`` leaves set at random.

    With ``invalid``, one more leaf gets a value of the wrong type or range."""
    paths = draw(st.lists(st.sampled_from(sorted(LEAVES)), max_size=max_leaves, unique=True))
    flat = {path: draw(LEAVES[path], label=path) for path in paths}
    if invalid:
        path = draw(st.sampled_from(sorted(INVALID)), label="invalid leaf")
        flat[path] = draw(INVALID[path], label=f"invalid {path}")
    # sampled_from returns the same dict each time, so the bases are copied.
    settings = _merged(copy.deepcopy(draw(MODES)), copy.deepcopy(draw(TRAINING_RUNS)))
    return _merged(settings, _nest(flat))


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` in place: maps key by key, anything else replaces."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merged(base[key], value)
        else:
            base[key] = value
    return base


RELEASE_NAMES = st.from_regex(r"\A[a-z]([-a-z0-9]{0,30}[a-z0-9])?\Z")
