"""The typed values model: the single definition of every setting.

Its camelCase serialized form is the Helm chart's ``values.yaml``. Every key of the
hand-written ``llamafactory`` 0.1.0 chart that this project replaces is accepted with
the same meaning and default, so an existing values file keeps working. Keys that no
longer make sense are accepted, marked deprecated, and mapped to what they meant.

Each field's docstring states its unit, default, allowed values and interactions;
those docstrings become the comments of ``values.yaml``, the descriptions of
``values.schema.json`` and the README parameter table.
"""

from __future__ import annotations

import math
import re
import typing
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

APP_VERSION = "0.9.2"
"""LLaMA Factory release the chart is written for (the chart's appVersion)."""

CHART_NAME = "llamafactory"

GPU_RESOURCE = "nvidia.com/gpu"
GPU_COUNT_PATTERN = r"^[0-9]{1,4}$"
"""A GPU count: a whole number from 0 to 9999."""

PLACEHOLDER_PATTERN = r"\$\{(DOMAIN_NAME|AIRGAP_REGISTRY|NAMESPACE)\}"
"""Literal placeholders that PCAI substitutes at deploy time."""

# A Kubernetes resource quantity (apimachinery resource.Quantity), non-negative. The
# exponent has at most two digits, so every quantity is a finite number on both sides.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2}|[KMGTPE]i|[mkMGTPE])?$"

# RFC 1123 DNS label, as Kubernetes validates object names and namespaces.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# A model id or path: no control characters, and not blank or an option ("--help").
MODEL_PATTERN = r"^[^ \x00-\x1f\x7f-\x9f-][^\x00-\x1f\x7f-\x9f]*$"

# RFC 1035 label: what Kubernetes requires of Service names, which start with a letter.
DNS_1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# RFC 1123 DNS subdomain, as Kubernetes validates claim names (at most 253 characters).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# A host name, optionally with one leading wildcard label; placeholders are
# replaced with a letter before this check.
HOSTNAME_PATTERN = r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

# Kubernetes' rule for environment variable names.
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

# Label keys: an optional DNS-subdomain prefix and a name of at most 63 characters.
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"

# Patterns of single fields, named so that error messages can explain them.
IMAGE_REPOSITORY_PATTERN = r"^((\$\{[A-Z_]+\}|[A-Za-z0-9.-]+(:[0-9]+)?)/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$"
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
IMAGE_DIGEST_PATTERN = r"^(sha256:[a-f0-9]{64})?$"
TEMPLATE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
ARGUMENT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
HTTP_URL_PATTERN = r"^(https?://[^ \x00-\x1f\x7f-\x9f]+)?$"
MOUNT_PATH_PATTERN = r"^/[^\x00-\x1f\x7f-\x9f:]*$"
GATEWAY_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# Istio's CRD requires a route timeout of at least 1ms (`duration(self) >=
# duration('1ms')` in the CRDs of istio.io/api 1.24), so "0s" is refused by the API
# server. Whole units keep that rule checkable by a pattern here and in the schema.
ROUTE_TIMEOUT_PATTERN = r"^[1-9][0-9]{0,8}(h|m|s|ms)$"
PROVIDER_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_.]*$"
NAME_OVERRIDE_PATTERN = r"^([a-z]([-a-z0-9]*[a-z0-9])?)?$"
STORAGE_CLASS_PATTERN = f"^(-|{DNS_SUBDOMAIN_PATTERN.strip('^$')})?$"
OPTIONAL_LABEL_KEY_PATTERN = f"^({LABEL_KEY_PATTERN.strip('^$')})?$"

# A compute resource name that Kubernetes accepts: a built-in one, or an extended one
# with a domain.
RESOURCE_NAME_PATTERN = (
    r"^(cpu|memory|ephemeral-storage|hugepages-[0-9]+[KMGTPE]i|"
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$"
)
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)]
ASCII_SPACE = " \t\n\r\f\v"
"""Characters stripped around numbers written as strings, as the chart's schema allows."""

NO_CONTROL_CHARS_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
NoControlChars = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARS_PATTERN)]
YAML_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Text that YAML can carry, and Helm therefore accepts: tabs and line breaks, but no
other control characters."""

# Variables the chart sets itself. Setting them through extraEnv would either be
# overridden silently or put a secret in plain text, so extraEnv rejects them. Each
# value is the fix the error message gives.
RESERVED_ENV = {
    "HF_TOKEN": "use huggingface.token or huggingface.existingSecret instead",
    "HUGGING_FACE_HUB_TOKEN": "use huggingface.token or huggingface.existingSecret instead",
    "API_KEY": "use api.apiKey or api.existingSecret instead",
    "API_PORT": "use api.port instead",
    "API_HOST": "use api.port instead (the API always listens on all addresses)",
    "GRADIO_SERVER_PORT": "use gradio.serverPort instead",
    "GRADIO_SERVER_NAME": "use gradio.serverName instead",
    "HF_HOME": "use persistence.hfCache.mountPath instead",
    "HF_HUB_OFFLINE": "use huggingface.offline instead",
    "HF_ENDPOINT": "use huggingface.endpoint instead",
    "GRADIO_ANALYTICS_ENABLED": "remove it, because the chart turns Gradio's analytics off",
    "HOME": "remove it, because the chart points it at the writable /tmp volume",
}


SECTION = "{section}"
"""Placeholder in a KeyedError message for the path of the section that raised it, so
that a message of a section used in several places (``resources`` and
``training.resources``) names the key to set in full."""


class KeyedError(ValueError):
    """A cross-field problem raised by a model validator, with the sub-key it concerns.

    The key is relative to the section that raised it; the loader prefixes the
    section's own path, and replaces ``{section}`` in the message with that path.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {self.message_at('(root)')}")

    def message_at(self, location: str) -> str:
        """Return the message with the other keys it names prefixed by ``location``."""
        prefix = "" if location == "(root)" else f"{location}."
        return self.message.replace(SECTION, prefix)


class KeyedErrors(ValueError):
    """Several cross-field problems found by one model validator, reported together."""

    def __init__(self, errors: list[KeyedError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """Return the values section inside a field's annotation (``X``, ``X | None``,
    ``list[X]``), or None for a plain leaf."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = nested_model(argument)
        if found is not None:
            return found
    return None


def _strip_placeholders(value: str) -> str:
    return re.sub(PLACEHOLDER_PATTERN, "x", value)


def _quantity_to_float(value: str) -> float:
    """Convert a Kubernetes quantity to a number of base units (bytes, cores, …)."""
    suffixes = {
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
        "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    }
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E"):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * suffixes[suffix]
    return float(value)


def empty_as_unset(value: Any) -> Any:
    """Read ``""`` as unset: Helm charts spell an unset optional name as an empty string."""
    return None if value == "" else value


def number_string(value: int | float) -> str:
    """Write a YAML number as a string, the way the Helm chart's templates write it.

    Helm reads every number in a values file as a 64-bit float and prints it with Go's
    ``%v``: shortest digits, in exponent form below 10^-4 and from 10^6. The chart
    prints whole numbers below 10^18 as integers. Both renderers therefore agree:
    ``4`` → ``"4"``, ``2.0`` → ``"2"``, ``0.5`` → ``"0.5"``, ``1e-05`` → ``"1e-05"``,
    ``1234567.5`` → ``"1.2345675e+06"``.
    """
    if abs(value) > MAX_EXACT_INTEGER:
        raise ValueError(
            f"{value} is too large for Helm, which reads numbers as 64-bit floats and would "
            f"change it; write it as a quoted string"
        )
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if not math.isfinite(value):
        return repr(value)
    number = Decimal(repr(value)).normalize()
    exponent = number.adjusted()
    if -4 <= exponent < 6:
        return format(number, "f")
    digits = "".join(str(digit) for digit in number.as_tuple().digits)
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    sign = "-" if number < 0 else ""
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def quantity_string(value: Any) -> Any:
    """Turn YAML numbers into the quantity strings Kubernetes uses (``4`` → ``"4"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return number_string(value)
    return value


_SELECTOR_REQUIREMENT = {"key": None, "operator": None, "values": None}
_NODE_SELECTOR_TERM = {"matchExpressions": [_SELECTOR_REQUIREMENT], "matchFields": [_SELECTOR_REQUIREMENT]}
_LABEL_SELECTOR = {"matchLabels": None, "matchExpressions": [_SELECTOR_REQUIREMENT]}
_POD_AFFINITY_TERM = {
    "labelSelector": _LABEL_SELECTOR,
    "namespaceSelector": _LABEL_SELECTOR,
    "namespaces": None,
    "topologyKey": None,
    "matchLabelKeys": None,
    "mismatchLabelKeys": None,
}
_POD_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": [_POD_AFFINITY_TERM],
    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": None, "podAffinityTerm": _POD_AFFINITY_TERM}],
}
AFFINITY_SCHEMA: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [_NODE_SELECTOR_TERM]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": None, "preference": _NODE_SELECTOR_TERM}],
    },
    "podAffinity": _POD_AFFINITY,
    "podAntiAffinity": _POD_AFFINITY,
}
"""Keys of the Kubernetes affinity API (core/v1): a map is a known set of keys, a
one-item list means a list of that shape, and None is a leaf."""


def _check_keys(value: Any, shape: Any, path: str) -> None:
    """Raise a KeyedError for the first key of ``value`` that ``shape`` does not know."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise KeyedError(path, f"expected a map, got {value!r}")
        for key, item in value.items():
            if key not in shape:
                known = ", ".join(sorted(shape))
                raise KeyedError(f"{path}.{key}", f"unknown key; Kubernetes knows {known}")
            _check_keys(item, shape[key], f"{path}.{key}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise KeyedError(path, f"expected a list, got {value!r}")
        for index, item in enumerate(value):
            _check_keys(item, shape[0], f"{path}[{index}]")


MAX_INT32 = 2**31 - 1
"""Largest user or group ID Linux takes, and a bound for seconds that Helm's 64-bit
integers cannot wrap."""

MAX_EXACT_INTEGER = 2**53
"""Largest whole number Helm keeps exactly. Helm reads numbers as 64-bit floats, so a
larger one written unquoted changes on its way through Helm."""

SECRET_WORDS = ("token", "key", "secret", "password")
"""Words that mark an extra argument as a secret, which must not be on the command line."""

STRING_NUMBER_FIELDS = {"shm_size_gi"}
"""Number fields that also take a string of digits, as the old chart's values did."""


class ValuesSection(BaseModel):
    """Base of every values section: camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _types_as_written(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse what pydantic would convert but Helm's schema refuses: YAML's true
        as the number 1, the string "yes" or the number 1 as a boolean, and "8000" as
        a number. Helm checks values against its schema before it renders a template,
        so both sides must refuse the same spellings."""
        if info.field_name is None or info.field_name in STRING_NUMBER_FIELDS:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if annotation in (int, float, int | None, float | None):
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got the boolean {str(value).lower()}; write a number")
            if isinstance(value, str):
                raise ValueError(f"expected a number, got the string {value!r}; write it without quotes")
        if annotation in (bool, bool | None) and value is not None and not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value


# --- image -------------------------------------------------------------------------


class ImageValues(ValuesSection):
    """Container image of LLaMA Factory."""

    registry: NoControlChars = ""
    """Registry host prepended to `repository`, for example `${AIRGAP_REGISTRY}` on an
    air-gapped PCAI. Empty (default) pulls from Docker Hub."""

    repository: Annotated[
        str,
        StringConstraints(
            pattern=IMAGE_REPOSITORY_PATTERN
        ),
    ] = (
        "hiyouga/llamafactory"
    )
    """Image repository. Default `hiyouga/llamafactory`, the upstream CUDA image. A
    registry host in front (`registry.example.com:5000/hiyouga/llamafactory`, as the
    old chart was used air-gapped) is accepted; `registry` is the cleaner key."""

    tag: Annotated[str, StringConstraints(pattern=IMAGE_TAG_PATTERN)] = "0.9.5"
    """Image tag. Default `0.9.5`, the newest upstream release: upstream pushes
    version tags only for releases since late 2025, so there is no `0.9.2` tag."""

    digest: Annotated[str, StringConstraints(pattern=IMAGE_DIGEST_PATTERN)] = ""
    """Image digest (`sha256:…`). When set, the image is pinned by digest and the
    tag is kept only for readability. Default empty."""

    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "Always"
    """Kubernetes imagePullPolicy. Default `Always`: at each start the kubelet looks up
    in the registry which image the tag names and downloads only the layers it lacks.
    A retagged image is therefore noticed, and the several-GB layers are fetched once
    per node. A pod then starts
    only while the registry responds. `IfNotPresent` lets cached images start without
    it."""

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_string(cls, value: Any) -> Any:
        if value == "":
            return cls.model_fields["tag"].default
        if isinstance(value, int) and not isinstance(value, bool):
            return number_string(value)
        if isinstance(value, float):
            raise ValueError(f"YAML read the tag as the number {value!r}; quote it, for example tag: \"1.10\"")
        return value

    @field_validator("registry")
    @classmethod
    def _registry_is_host(cls, value: str) -> str:
        host = _strip_placeholders(value).rstrip("/")
        if host and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*", host):
            raise ValueError(
                f"{value!r} is not a registry host; set a host such as "
                "'registry.example.com:5000' or '${AIRGAP_REGISTRY}'"
            )
        return value

    def reference(self) -> str:
        """Return the full image reference: ``[registry/]repository:tag[@digest]``."""
        prefix = f"{self.registry.rstrip('/')}/" if self.registry else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{prefix}{self.repository}:{self.tag}{digest}"


class ImagePullSecret(ValuesSection):
    """A Secret of type `kubernetes.io/dockerconfigjson` in the release namespace."""

    name: DnsLabel
    """Name of the Secret."""


# --- modes ---------------------------------------------------------------------------


class GradioValues(ValuesSection):
    """LLaMA Board (Gradio) settings, used in `webui` mode."""

    server_port: int = Field(7860, ge=1024, le=65535)
    """Port LLaMA Board listens on (`GRADIO_SERVER_PORT`). Default 7860. Container
    port, Service target and probes follow it."""

    server_name: Literal["0.0.0.0", "::"] = "0.0.0.0"
    """Address LLaMA Board binds (`GRADIO_SERVER_NAME`). Default `0.0.0.0`; `::` for
    IPv6 clusters. A loopback address would make the pod unreachable, so none is
    allowed."""


class ApiValues(ValuesSection):
    """OpenAI-compatible API settings, used in `api` mode."""

    port: int = Field(8000, ge=1024, le=65535)
    """Port the API listens on (`API_PORT`). Default 8000."""

    model: Annotated[str, StringConstraints(pattern=MODEL_PATTERN)] | None = None
    """Model to serve (`--model_name_or_path`): a Hugging Face id or a path on a
    mounted volume. Required in `api` mode, because the API loads the model before
    it opens its port. Default unset."""

    template: Annotated[str, StringConstraints(pattern=TEMPLATE_PATTERN)] | None = None
    """Chat template (`--template`), for example `llama3` or `qwen`. Default unset:
    LLaMA Factory then uses the tokenizer's own chat template."""

    infer_backend: Literal["huggingface", "vllm"] = "huggingface"
    """Inference engine (`--infer_backend`). Default `huggingface`; `vllm` needs the
    vLLM extra in the image."""

    adapter: NoControlChars | None = None
    """LoRA adapter to load on top of the model (`--adapter_name_or_path`), for
    example a checkpoint under `/app/output`. Default unset; empty means unset."""

    _adapter_unset = field_validator("adapter", mode="before")(empty_as_unset)

    extra_args: dict[
        Annotated[str, StringConstraints(pattern=ARGUMENT_NAME_PATTERN)],
        NoControlChars | int | float | bool,
    ] = Field(default_factory=dict)
    """More model arguments, rendered as `--key value` after the ones above, for
    example `{trust_remote_code: true}`. Default empty."""

    api_key: NoControlChars = ""
    """API key the clients must send as a bearer token. The chart stores it in a
    Secret and passes it as `API_KEY`; it never appears on the command line. Empty
    (default) leaves `/v1/*` open to anyone who passes the platform login."""

    existing_secret: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] | None = None
    """Existing Secret holding the API key; takes precedence over `apiKey`."""

    existing_secret_key: Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)] = "api-key"
    """Key inside `existingSecret`. Default `api-key`."""

    _existing_secret_unset = field_validator("existing_secret", mode="before")(empty_as_unset)

    @field_validator("extra_args")
    @classmethod
    def _extra_args_are_not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                number_string(item)  # refuses integers Helm cannot keep exactly
            if set(SECRET_WORDS) & set(key.split("_")):
                raise ValueError(
                    f"{key!r} looks like a secret, and arguments are visible in the pod spec; "
                    "use huggingface.token or api.apiKey, which are read from Secrets"
                )
            if key in {"model_name_or_path", "template", "infer_backend", "adapter_name_or_path"}:
                raise ValueError(
                    f"{key!r} has its own key; set api.model, api.template, "
                    "api.inferBackend or api.adapter instead"
                )
        return value

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) or self.existing_secret is not None


# --- Hugging Face ----------------------------------------------------------------------


class HuggingFaceValues(ValuesSection):
    """Access to the Hugging Face Hub."""

    token: NoControlChars = ""
    """Hub token for gated models. Stored in a Secret created by the chart and passed
    as `HF_TOKEN`. Empty (default) creates no Secret and no variable."""

    existing_secret: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] | None = None
    """Existing Secret holding the token; takes precedence over `token`."""

    existing_secret_key: Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)] = "token"
    """Key inside `existingSecret`. Default `token`."""

    endpoint: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN)] = ""
    """Hub mirror URL (`HF_ENDPOINT`). Default empty: the public Hub."""

    offline: bool = False
    """Never contact the Hub (`HF_HUB_OFFLINE=1`): models must already be in the model
    cache or on a volume. Default false."""

    _existing_secret_unset = field_validator("existing_secret", mode="before")(empty_as_unset)


# --- service -----------------------------------------------------------------------


class ServiceValues(ValuesSection):
    """The Service in front of the pod."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    """Service type. Default `ClusterIP`: on PCAI, traffic enters through the Istio
    gateway."""

    port: int | None = Field(None, ge=1, le=65535)
    """Service port. Default unset: the port of the chosen mode (7860 or 8000), so
    Service, container and VirtualService always agree."""

    target_port: int | str | None = None
    """Deprecated: the Service always targets the container's named port `http`,
    whose number follows `gradio.serverPort` or `api.port`. Accepted when it names
    that port (`http`) or equals its number."""


# --- resources, scheduling, security ---------------------------------------------------


class ResourcesValues(ValuesSection):
    """Container requests and limits (`cpu`, `memory`, `nvidia.com/gpu`, …)."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    """Requests. Default empty: every resource with a limit but no request is
    requested at its limit, as Kubernetes would do, and the manifest states it. A
    request above its limit is an error."""

    limits: dict[str, Quantity] = Field(
        default_factory=lambda: {"cpu": "8", "memory": "64Gi", GPU_RESOURCE: "1"}
    )
    """Limits. Default 8 CPUs, 64Gi memory, 1 GPU. PCAI rejects containers without a
    CPU limit: when `limits.cpu` is missing, `requests.cpu` is used. Kubernetes needs
    GPU requests equal to limits: set the GPU count here. A count on one side only is
    copied to the other, but the default limit of 1 counts as a side, so a request of
    2 alone is an error; set `limits.nvidia.com/gpu` instead. 0 GPUs leaves the key
    out."""

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _numbers_to_quantities(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: quantity_string(item) for key, item in value.items()}
        return value

    @field_validator("requests", "limits")
    @classmethod
    def _resource_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(RESOURCE_NAME_PATTERN, name):
                raise KeyedError(
                    name,
                    "invalid resource name; use cpu, memory, ephemeral-storage, hugepages-<size> "
                    "or a name with a domain such as 'nvidia.com/gpu'",
                )
        return value

    @model_validator(mode="after")
    def _check(self) -> ResourcesValues:
        self._effective()
        return self

    def _effective(self) -> tuple[dict[str, str], dict[str, str]]:
        """Return the requests and limits as rendered, raising on contradictions.

        The GPU count is copied to the side that lacks it and left out when 0, a
        missing CPU limit takes the CPU request, and every other limit without a
        request is requested at the limit.
        """
        requests = dict(self.requests)
        limits = dict(self.limits)

        gpu_request = requests.pop(GPU_RESOURCE, None)
        gpu_limit = limits.pop(GPU_RESOURCE, None)
        for side, count in (("requests", gpu_request), ("limits", gpu_limit)):
            if count is not None and not re.fullmatch(GPU_COUNT_PATTERN, count):
                raise KeyedError(
                    f"{side}.{GPU_RESOURCE}",
                    f"{count!r} is not a whole number of GPUs from 0 to 9999; set an integer such as 1",
                )
        if gpu_request is not None and gpu_limit is not None and int(gpu_request) != int(gpu_limit):
            raise KeyedError(
                f"requests.{GPU_RESOURCE}",
                f"{gpu_request} GPUs differs from {SECTION}limits.{GPU_RESOURCE} ({gpu_limit}); "
                "Kubernetes requires extended resources to have equal requests and "
                "limits, so set both to the same count",
            )
        gpus = int(gpu_request or gpu_limit or 0)
        if gpus > 0:
            requests[GPU_RESOURCE] = str(gpus)
            limits[GPU_RESOURCE] = str(gpus)

        for name, limit in limits.items():
            requests.setdefault(name, limit)

        if "cpu" not in limits:
            if "cpu" not in requests:
                raise KeyedError(
                    "limits.cpu",
                    "missing; PCAI rejects containers without a CPU limit, so set "
                    f"{SECTION}limits.cpu (for example '8')",
                )
            limits["cpu"] = requests["cpu"]

        for name, request in requests.items():
            limit = limits.get(name)
            if limit is not None and _quantity_to_float(request) > _quantity_to_float(limit):
                raise KeyedError(
                    f"requests.{name}",
                    f"{request} is above {SECTION}limits.{name} ({limit}); lower the request or "
                    "raise the limit",
                )
        return requests, limits

    @property
    def effective_requests(self) -> dict[str, str]:
        return self._effective()[0]

    @property
    def effective_limits(self) -> dict[str, str]:
        return self._effective()[1]

    @property
    def gpus(self) -> int:
        return int(self.effective_limits.get(GPU_RESOURCE, "0"))


class Toleration(ValuesSection):
    """A Kubernetes toleration."""

    key: Annotated[str, StringConstraints(pattern=OPTIONAL_LABEL_KEY_PATTERN)] | None = None
    """Taint key to tolerate; unset with `operator: Exists` tolerates every taint."""

    operator: Literal["Exists", "Equal"] | None = None
    """`Equal` (the Kubernetes default) or `Exists`."""

    value: LabelValue | None = None
    """Taint value, with `operator: Equal`."""

    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to tolerate; unset tolerates every effect."""

    toleration_seconds: int | None = Field(None, ge=0, le=MAX_INT32)
    """Seconds the pod stays bound after a `NoExecute` taint appears."""

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise KeyedError("value", f"{self.value!r} is set with operator Exists; remove value or use operator Equal")
        if not self.key and self.operator != "Exists":
            raise KeyedError("operator", "an empty key tolerates every taint only with operator Exists; set key or operator: Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise KeyedError("tolerationSeconds", "applies only to effect NoExecute; set effect: NoExecute or remove it")
        return self


class SeccompProfile(ValuesSection):
    """Seccomp profile of a pod or container."""

    type: Literal["RuntimeDefault", "Localhost", "Unconfined"] = "RuntimeDefault"
    """Profile kind. Default `RuntimeDefault`."""

    localhost_profile: str | None = None
    """Profile file on the node, with `type: Localhost`."""

    @model_validator(mode="after")
    def _profile_matches_type(self) -> SeccompProfile:
        if (self.type == "Localhost") != bool(self.localhost_profile):
            raise KeyedError("localhostProfile", "is required with type Localhost and allowed only there")
        return self


class Capabilities(ValuesSection):
    """Linux capabilities to add or drop."""

    add: list[str] = Field(default_factory=list)
    """Capabilities to add. Default none."""

    drop: list[str] = Field(default_factory=lambda: ["ALL"])
    """Capabilities to drop. Default `ALL`."""


class PodSecurityContextValues(ValuesSection):
    """Pod security context. Fields left unset are left out of the manifest."""

    run_as_user: int | None = Field(None, ge=0, le=MAX_INT32)
    """UID of every container. Unset (default) keeps the image's user, root: the
    upstream image installs into root-owned `/app` and `/root/.cache`."""

    run_as_group: int | None = Field(None, ge=0, le=MAX_INT32)
    """Primary GID of every container. Default unset."""

    run_as_non_root: bool | None = None
    """Refuse to start as UID 0. See the README's non-root setting."""

    fs_group: int | None = Field(None, ge=0, le=MAX_INT32)
    """Group that owns the volumes, so a non-root user can write them."""

    fs_group_change_policy: Literal["OnRootMismatch", "Always"] | None = None
    """When the kubelet changes volume ownership to `fsGroup`. Default unset
    (Kubernetes: `Always`); `OnRootMismatch` starts faster on large volumes."""

    supplemental_groups: list[Annotated[int, Field(ge=0, le=MAX_INT32)]] = Field(default_factory=list)
    """More GIDs for every container. Default none."""
    seccomp_profile: SeccompProfile | None = Field(default_factory=SeccompProfile)
    """Default `RuntimeDefault`, the container runtime's system-call filter."""


class SecurityContextValues(ValuesSection):
    """Security context of the LLaMA Factory container."""

    allow_privilege_escalation: bool = False
    """Default false."""

    privileged: bool = False
    """Default false."""

    read_only_root_filesystem: bool = True
    """Default true: LLaMA Factory writes only to the volumes the chart mounts (the
    model cache, LLaMA Board's state directories, the data and output claims), and
    `HOME` is the writable `/tmp`, where libraries keep their caches. Set false for
    an image or plugin that writes elsewhere."""

    run_as_non_root: bool | None = None
    """Refuse to start as UID 0; overrides the pod setting. Default unset."""

    run_as_user: int | None = Field(None, ge=0, le=MAX_INT32)
    """UID of the container; overrides the pod setting. Default unset."""

    run_as_group: int | None = Field(None, ge=0, le=MAX_INT32)
    """GID of the container; overrides the pod setting. Default unset."""

    capabilities: Capabilities = Field(default_factory=Capabilities)
    """Default drops ALL capabilities; the image needs none."""

    seccomp_profile: SeccompProfile | None = None
    """Seccomp profile of the container; unset (default) uses the pod's."""

    @model_validator(mode="after")
    def _privilege_consistent(self) -> SecurityContextValues:
        if self.privileged and not self.allow_privilege_escalation:
            raise KeyedError(
                "privileged",
                "true needs allowPrivilegeEscalation: true, which Kubernetes requires with it; "
                "set both, or leave privileged false",
            )
        return self


# --- storage ----------------------------------------------------------------------------


class ClaimValues(ValuesSection):
    """One persistent volume claim."""

    enabled: bool = True
    """Create (or use) a claim. False mounts an emptyDir instead, whose content is
    lost with the pod. Disabling keeps an existing claim: it is annotated
    `helm.sh/resource-policy: keep`."""

    size: Quantity = "10Gi"
    """Requested capacity, a Kubernetes quantity such as `200Gi`."""

    storage_class: Annotated[str, StringConstraints(pattern=STORAGE_CLASS_PATTERN, max_length=253)] = ""
    """Storage class. Empty (default) uses the cluster's default class; `-` sets
    `storageClassName: ""`, which disables dynamic provisioning."""

    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"] = (
        "ReadWriteOnce"
    )
    """Access mode. Default `ReadWriteOnce`; the Deployment therefore uses the
    `Recreate` strategy."""

    mount_path: Annotated[str, StringConstraints(pattern=MOUNT_PATH_PATTERN)] | None = None
    """Absolute path inside the container."""

    existing_claim: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] | None = None
    """Name of an existing claim to mount instead of creating one. Default unset."""

    _existing_claim_unset = field_validator("existing_claim", mode="before")(empty_as_unset)

    @field_validator("size", mode="before")
    @classmethod
    def _size_string(cls, value: Any) -> Any:
        return quantity_string(value)

    @field_validator("size")
    @classmethod
    def _size_positive(cls, value: str) -> str:
        if _quantity_to_float(value) <= 0:
            raise ValueError(f"{value!r} is invalid: Kubernetes requires a claim larger than 0; set a size such as '10Gi'")
        return value


def _claim(size: str, mount_path: str | None) -> Any:
    return Field(default_factory=lambda: ClaimValues(size=size, mount_path=mount_path))


class PersistenceValues(ValuesSection):
    """Volumes of the workload. Every claim survives uninstall and upgrades."""

    hf_cache: ClaimValues = _claim("200Gi", None)
    """Model cache (`HF_HOME`). Default 200Gi. Unset `mountPath` means
    `/root/.cache/huggingface`, the image's cache, for a root container, and
    `/cache/huggingface` for a non-root one, which cannot enter `/root`."""

    data: ClaimValues = _claim("50Gi", "/app/custom_data")
    """Datasets. Default 50Gi at `/app/custom_data`, so the image's own `/app/data`
    (demo datasets and `dataset_info.json`) stays visible."""

    output: ClaimValues = _claim("100Gi", "/app/output")
    """Checkpoints and exported models. Default 100Gi at `/app/output`."""

    webui_state: ClaimValues = _claim("10Gi", "/app")
    """LLaMA Board's state: `saves/` (trained adapters, logs), `cache/` (user
    settings) and `config/` (saved training configs), which it writes relative to
    `/app`; LLaMA Factory 0.9.5 names the last two `llamaboard_cache/` and
    `llamaboard_config/`. Each is mounted with a sub-path of the same name at
    `<mountPath>/<name>`, so a restart keeps them. Default 10Gi; `mountPath` is the
    parent directory."""

    @model_validator(mode="after")
    def _mount_paths_set(self) -> PersistenceValues:
        for name in ("data", "output", "webui_state"):
            claim: ClaimValues = getattr(self, name)
            if claim.mount_path is None:
                raise KeyedError(f"{to_camel(name)}.mountPath", "missing; set an absolute path")
        return self


# --- probes -------------------------------------------------------------------------


class ProbeValues(ValuesSection):
    """One probe's timing. The path is chosen by the mode and cannot be set."""

    period_seconds: int = Field(10, ge=1, le=3600)
    """Seconds between two checks."""

    failure_threshold: int | None = Field(None, ge=1, le=10000)
    """Failed checks in a row before Kubernetes acts."""

    timeout_seconds: int = Field(5, ge=1, le=600)
    """Seconds a check may take."""


class ProbesValues(ValuesSection):
    """Startup, readiness and liveness probes. Each uses a path the mode serves: `/`
    for LLaMA Board, `/docs` for the API (which has no `/` route)."""

    startup: ProbeValues = Field(default_factory=lambda: ProbeValues(period_seconds=10))
    """Budget = periodSeconds × failureThreshold, at least 600 s. Default failure
    threshold 60 in `webui` mode (10 minutes) and 180 in `api` mode (30 minutes),
    because the API loads the model before it opens its port. Readiness and liveness
    start only after it passes."""

    readiness: ProbeValues = Field(default_factory=lambda: ProbeValues(period_seconds=10, failure_threshold=3))
    """Default every 10 s, 3 failures."""

    liveness: ProbeValues = Field(default_factory=lambda: ProbeValues(period_seconds=30, failure_threshold=5))
    """Default every 30 s, 5 failures: a busy training step must not restart the pod."""


WORKING_DIR = "/app"
"""LLaMA Factory's working directory in the upstream image."""

WEBUI_STATE_DIRECTORIES = ("saves", "cache", "config", "llamaboard_cache", "llamaboard_config")
"""Directories LLaMA Board creates in its working directory. LLaMA Factory 0.9.2
writes `cache/` and `config/`, 0.9.5 writes `llamaboard_cache/` and
`llamaboard_config/` (`webui/common.py` of each release). Both pairs are mounted, so
either release starts with a read-only root filesystem."""

ROOT_HF_CACHE = "/root/.cache/huggingface"
NON_ROOT_HF_CACHE = "/cache/huggingface"

SYSTEM_PATHS = (
    "/", "/app", "/bin", "/boot", "/dev", "/dev/shm", "/etc", "/lib", "/lib64",
    "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
)
"""Paths no volume may be mounted at: the system's directories and the application."""

STARTUP_BUDGET_FLOOR_SECONDS = 600
DEFAULT_STARTUP_FAILURES = {"webui": 60, "api": 180}


# --- environment ------------------------------------------------------------------------


class EnvVar(ValuesSection):
    """An extra environment variable. Values are always rendered as strings."""

    name: Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
    """Variable name."""

    value: Annotated[str, StringConstraints(pattern=YAML_TEXT_PATTERN)] = ""
    """Value; numbers and booleans become strings."""

    @field_validator("value", mode="before")
    @classmethod
    def _to_string(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return quantity_string(value)
        if value is None:
            return ""
        return value


# --- EzUA (PCAI) -------------------------------------------------------------------------


class VirtualServiceValues(ValuesSection):
    """Istio VirtualService read by the EzUA app controller for the tile's Open button."""

    enabled: bool = True
    """Create the VirtualService. Default true."""

    endpoint: str = "llamafactory.${DOMAIN_NAME}"
    """Host name users open. `${DOMAIN_NAME}` is substituted by PCAI at deploy time.
    Default `llamafactory.${DOMAIN_NAME}`."""

    istio_gateway: Annotated[str, StringConstraints(pattern=GATEWAY_PATTERN)] = (
        "istio-system/ezaf-gateway"
    )
    """Gateway as `namespace/name`. Default `istio-system/ezaf-gateway`, PCAI's gateway."""

    timeout: Annotated[str, StringConstraints(pattern=ROUTE_TIMEOUT_PATTERN)] | None = None
    """Route timeout, a whole number of `h`, `m`, `s` or `ms`, at least `1ms`. Default
    unset: the route has no timeout, Istio's default, because LLaMA Board streams
    training progress over server-sent events for hours."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_host(cls, value: str) -> str:
        host = _strip_placeholders(value)
        if len(host) > 253 or not re.fullmatch(HOSTNAME_PATTERN, host):
            raise ValueError(
                f"{value!r} is not a host name; set a DNS name such as "
                "'llamafactory.${DOMAIN_NAME}' (no scheme, port, path or spaces)"
            )
        return value


class AuthorizationPolicyValues(ValuesSection):
    """Platform login: an Istio AuthorizationPolicy that sends every request for the
    endpoint through PCAI's oauth2-proxy. LLaMA Board has no login of its own."""

    enabled: bool = True
    """Create the policy. Default true. Disabling it leaves LLaMA Board open to anyone
    who can reach the gateway."""

    namespace: DnsLabel = "istio-system"
    """Namespace of the ingress gateway; the policy must live there."""

    provider_name: Annotated[str, StringConstraints(pattern=PROVIDER_PATTERN)] = "oauth2-proxy"
    """Istio extension provider that performs the login. Default `oauth2-proxy`."""

    match_labels: dict[
        Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)], LabelValue
    ] = Field(default_factory=lambda: {"istio": "ingressgateway"})
    """Labels of the gateway pods the policy applies to. Default
    `{istio: ingressgateway}`. The policy selects the gateway, never the app's pod, so
    kubelet probes are not affected."""


class KyvernoValues(ValuesSection):
    """Deprecated: the old chart installed a cluster-wide Kyverno policy to add pod
    labels. The labels are now set on the pod directly and no policy is created."""

    enabled: bool = False
    """Deprecated, has no effect: the `hpe-ezua/*` labels are always set."""

    labels: dict[
        Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)], LabelValue
    ] = Field(default_factory=dict)
    """Deprecated: extra pod labels, merged into `podLabels`."""


class EzuaValues(ValuesSection):
    """HPE Ezmeral Unified Analytics (PCAI) integration."""

    virtual_service: VirtualServiceValues = Field(default_factory=VirtualServiceValues)
    """The route behind the tile's Open button."""

    authorization_policy: AuthorizationPolicyValues = Field(default_factory=AuthorizationPolicyValues)
    """The platform login in front of the route."""

    kyverno: KyvernoValues = Field(default_factory=KyvernoValues)
    """Deprecated settings of the old chart's Kyverno policy."""


class NetworkPolicyValues(ValuesSection):
    """A NetworkPolicy that admits connections to the app's port only from the
    gateway's namespace and from the release's own pods (the `helm test` check)."""

    enabled: bool = True
    """Create the policy. Default true. It takes effect where the cluster's network
    plugin enforces NetworkPolicies; `kubectl port-forward` is not affected. A
    `NodePort` or `LoadBalancer` Service receives traffic from outside the cluster,
    which the policy drops: set false for those, or list the clients' namespaces."""

    allowed_namespaces: list[DnsLabel] = Field(default_factory=lambda: ["istio-system"])
    """Namespaces whose pods may connect. Default `istio-system`, where PCAI's Istio
    ingress gateway runs. Add the namespace of any other client, for example a
    notebook namespace that calls the API."""


TRAINING_CLAIM_MODES = {
    "output": ("ReadWriteMany",),
    "hf_cache": ("ReadWriteMany",),
    "data": ("ReadWriteMany", "ReadOnlyMany"),
}
"""Access modes that several training nodes can share, for each claim the training pods
mount (LLaMA Board's state is not mounted). The model cache needs writes, because the
Hub client and the tokenized-dataset cache write there; datasets are only read."""

# --- training --------------------------------------------------------------------------

TRAINING_TEXT_PATTERN = r"^[!-~][ -~]*$"
"""Printable ASCII that does not start with a space. Training arguments are written into
a YAML file as double-quoted strings, and this keeps the quoting of Python and Helm
identical."""

TRAINING_MODEL_PATTERN = r"^[!-,.-~][ -~]*$"
"""A model id or path in printable ASCII, not starting with a space or '-'."""

TRAINING_PATH_PATTERN = r"^/[ -~]*$"
DATASET_LIST_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(,[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"
LORA_TARGET_PATTERN = r"^[A-Za-z0-9_.]+(,[A-Za-z0-9_.]+)*$"

TRAINING_ENV = ("FORCE_TORCHRUN", "NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
"""Variables that ``llamafactory-cli train`` reads to launch torchrun, set by the
training pods themselves."""

YAML_KEYWORD_NAMES = ("false", "n", "no", "null", "off", "on", "true", "y", "yes")
"""Argument names that YAML 1.1 reads as a boolean or null when they are keys of
``train.yaml`` (PyYAML does so for all but ``y`` and ``n``). No LLaMA Factory argument
has one of these names."""

OWN_TRAINING_ARGUMENTS = {
    "model_name_or_path": "model",
    "stage": "stage",
    "do_train": None,
    "finetuning_type": "finetuningType",
    "lora_rank": "loraRank",
    "lora_target": "loraTarget",
    "dataset": "dataset",
    "dataset_dir": "datasetDir",
    "template": "template",
    "cutoff_len": "cutoffLen",
    "max_samples": "maxSamples",
    "output_dir": None,
    "logging_steps": "loggingSteps",
    "save_steps": "saveSteps",
    "per_device_train_batch_size": "perDeviceTrainBatchSize",
    "gradient_accumulation_steps": "gradientAccumulationSteps",
    "learning_rate": "learningRate",
    "num_train_epochs": "numTrainEpochs",
    "max_steps": "maxSteps",
    "bf16": "precision",
    "fp16": "precision",
}
"""LLaMA Factory arguments that have a key of their own under ``training.args`` (None:
set by the chart), by their name in LLaMA Factory 0.9's ``hparams``."""


class TrainingArgsValues(ValuesSection):
    """Arguments of `llamafactory-cli train`, written to a YAML file in a ConfigMap.

    Names follow LLaMA Factory 0.9 (`model_name_or_path`, `finetuning_type`, …) in
    camelCase. `do_train: true` and `output_dir` are set by the chart."""

    model: Annotated[str, StringConstraints(pattern=TRAINING_MODEL_PATTERN)] | None = None
    """Base model (`model_name_or_path`): a Hugging Face id or a path on a mounted
    volume, in printable ASCII. Required when `training.enabled`. Default unset."""

    stage: Literal["pt", "sft", "rm", "dpo", "kto"] = "sft"
    """Training stage (`stage`): `pt` pre-training, `sft` supervised fine-tuning
    (default), `rm` reward model, `dpo` and `kto` preference tuning. `ppo` needs a
    reward model and is not offered."""

    finetuning_type: Literal["lora", "freeze", "full"] = "lora"
    """Method (`finetuning_type`): `lora` (default) trains adapters, `freeze` the last
    layers, `full` every weight."""

    lora_rank: int = Field(8, ge=1, le=4096)
    """LoRA rank (`lora_rank`), written only with `finetuningType: lora`. Default 8."""

    lora_target: Annotated[str, StringConstraints(pattern=LORA_TARGET_PATTERN)] = "all"
    """Modules that get adapters (`lora_target`), comma-separated, written only with
    `finetuningType: lora`. Default `all`."""

    dataset: Annotated[str, StringConstraints(pattern=DATASET_LIST_PATTERN)] | None = None
    """Dataset names from `dataset_info.json` in `datasetDir`, comma-separated
    (`dataset`), for example `identity,alpaca_en_demo`. Required when
    `training.enabled`. Default unset."""

    dataset_dir: Annotated[str, StringConstraints(pattern=TRAINING_PATH_PATTERN)] = "/app/data"
    """Directory with `dataset_info.json` (`dataset_dir`). Default `/app/data`, the
    image's demo datasets; set `persistence.data.mountPath` (`/app/custom_data`) for
    datasets on the data claim."""

    template: Annotated[str, StringConstraints(pattern=TEMPLATE_PATTERN)] | None = None
    """Chat template (`template`), for example `qwen`. Default unset: LLaMA Factory
    uses the tokenizer's own chat template."""

    cutoff_len: int = Field(2048, ge=1, le=1_048_576)
    """Maximum tokens per example after tokenization (`cutoff_len`). Default 2048."""

    max_samples: int | None = Field(None, ge=1, le=MAX_EXACT_INTEGER)
    """Examples used from each dataset (`max_samples`). Default unset: all."""

    per_device_train_batch_size: int = Field(1, ge=1, le=4096)
    """Examples per GPU and step (`per_device_train_batch_size`). Default 1."""

    gradient_accumulation_steps: int = Field(8, ge=1, le=65536)
    """Steps whose gradients are summed before an update
    (`gradient_accumulation_steps`). Default 8."""

    learning_rate: float = Field(1e-4, gt=0, le=1)
    """Peak learning rate (`learning_rate`). Default 0.0001."""

    num_train_epochs: float = Field(3.0, gt=0, le=100_000)
    """Passes over the data (`num_train_epochs`); ignored when `maxSteps` is set.
    Default 3."""

    max_steps: int | None = Field(None, ge=1, le=MAX_EXACT_INTEGER)
    """Optimizer steps to run (`max_steps`); overrides `numTrainEpochs`. Default
    unset."""

    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    """Number format: `bf16` (default, `bf16: true`) for Ampere and newer GPUs,
    `fp16` (`fp16: true`) for older GPUs, `fp32` for neither, as on CPUs. With no GPU
    (`nvidia.com/gpu` limit 0) the config also sets `use_cpu: true`, without which
    LLaMA Factory 0.9.5 rejects `bf16`; `use_cpu` in `extraArgs` replaces it."""

    logging_steps: int = Field(10, ge=1, le=MAX_EXACT_INTEGER)
    """Steps between two log lines (`logging_steps`). Default 10."""

    save_steps: int = Field(500, ge=1, le=MAX_EXACT_INTEGER)
    """Steps between two checkpoints (`save_steps`). Default 500."""

    extra_args: dict[
        Annotated[str, StringConstraints(pattern=ARGUMENT_NAME_PATTERN)],
        Annotated[str, StringConstraints(pattern=TRAINING_TEXT_PATTERN)] | int | float | bool,
    ] = Field(default_factory=dict)
    """More arguments, sorted by name after the ones above, for example
    `{lora_alpha: 16, deepspeed: /app/examples/deepspeed/ds_z2_config.json}`.
    `report_to` given here replaces the default `none`. Arguments with a key of their
    own and names that look like secrets are rejected. Default empty."""

    @field_validator("extra_args")
    @classmethod
    def _extra_args_allowed(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                number_string(item)  # refuses integers Helm cannot keep exactly
                if not math.isfinite(item):
                    raise ValueError(f"{key!r}: {item!r} is not a finite number; write a number")
            if set(SECRET_WORDS) & set(key.split("_")):
                raise ValueError(
                    f"{key!r} looks like a secret, and the training config is stored in a ConfigMap; "
                    "use huggingface.token, which is read from a Secret"
                )
            if key in YAML_KEYWORD_NAMES:
                raise ValueError(
                    f"{key!r} would be read from train.yaml as a boolean or null, not as an argument "
                    "name, and no LLaMA Factory argument has this name; remove it"
                )
            if key in OWN_TRAINING_ARGUMENTS:
                own = OWN_TRAINING_ARGUMENTS[key]
                fix = f"set training.args.{own} instead" if own else "remove it, because the chart sets it"
                raise ValueError(f"{key!r} has its own key; {fix}")
        return value


class TrainingValues(ValuesSection):
    """A fine-tuning run: `llamafactory-cli train` as a batch workload.

    One node runs a Kubernetes Job. More nodes run a Kubeflow `PyTorchJob` or an
    Indexed Job with a headless Service, chosen by `engine`. The training pods use the
    release's image, claims (except LLaMA Board's state), `/dev/shm`, Hugging Face
    settings, `extraEnv`, security contexts and scheduling settings."""

    enabled: bool = False
    """Create the training run. Default false."""

    run_name: Annotated[str, StringConstraints(pattern=DNS_1035_LABEL_PATTERN, max_length=20)] = "run1"
    """Name of the run: objects are named `<fullname>-train-<runName>` and checkpoints
    go to `<persistence.output.mountPath>/<runName>`. Kubernetes cannot change a Job's
    pod template, so change the run name to start a new run with other settings.
    Default `run1`."""

    nodes: int = Field(1, ge=1, le=256)
    """Nodes (pods) that train together. Default 1, a plain Job. More than one needs
    ReadWriteMany claims, because every pod mounts the same volumes."""

    engine: Literal["pytorchjob", "indexedJob"] = "pytorchjob"
    """Multi-node engine, used when `nodes` is above 1. `pytorchjob` (default) creates
    a Kubeflow `PyTorchJob` (kubeflow.org/v1), which needs the Kubeflow training
    operator that PCAI ships. `indexedJob` creates an Indexed Job and a headless
    Service, for clusters without Kubeflow."""

    master_port: int = Field(29500, ge=1024, le=65535)
    """Port of the rank-0 node's rendezvous (`MASTER_PORT`). Default 29500."""

    backoff_limit: int = Field(0, ge=0, le=100)
    """Retries of a failed run. Default 0. A retry resumes from the newest
    `checkpoint-N` in the output directory, as LLaMA Factory 0.9 does when
    `output_dir` contains one, and starts again from the beginning when none was
    saved."""

    resources: ResourcesValues = Field(default_factory=ResourcesValues)
    """Requests and limits of each training container, with the same rules as
    `resources`. The `nvidia.com/gpu` limit is the GPUs per node: with more than one,
    or with more than one node, LLaMA Factory launches one process per GPU with
    torchrun. Default 8 CPUs, 64Gi memory, 1 GPU."""

    args: TrainingArgsValues = Field(default_factory=TrainingArgsValues)
    """LLaMA Factory's training arguments."""

    @property
    def gpus_per_node(self) -> int:
        return self.resources.gpus

    @property
    def processes_per_node(self) -> int:
        """Processes per node: one per GPU, and one on a node without GPUs."""
        return max(self.resources.gpus, 1)

    @property
    def uses_torchrun(self) -> bool:
        return self.nodes > 1 or self.resources.gpus > 1

    @property
    def kind(self) -> Literal["job", "pytorchjob", "indexedJob"]:
        """The workload kind: ``job`` for one node, else the engine."""
        return "job" if self.nodes == 1 else self.engine



# --- root ---------------------------------------------------------------------------------


class Values(ValuesSection):
    """Every setting of a LLaMA Factory release."""

    release_name: Annotated[str, StringConstraints(pattern=DNS_1035_LABEL_PATTERN, max_length=53)] = CHART_NAME
    """Release name that object names and labels derive from. Helm uses its own
    release name instead. At most 53 characters, Helm's limit. Default
    `llamafactory`."""

    namespace: DnsLabel = CHART_NAME
    """Namespace of the plain manifests and of the VirtualService route's host name.
    Helm uses the release namespace instead. Default `llamafactory`."""

    name_override: Annotated[str, StringConstraints(pattern=NAME_OVERRIDE_PATTERN, max_length=63)] = ""
    """Replaces the chart name in object names. Default empty."""

    fullname_override: Annotated[str, StringConstraints(pattern=NAME_OVERRIDE_PATTERN, max_length=63)] = ""
    """Replaces the whole object name prefix. Default empty."""

    mode: Literal["webui", "api"] = "webui"
    """`webui` runs LLaMA Board on `gradio.serverPort`; `api` runs the
    OpenAI-compatible API on `api.port` and needs `api.model`."""

    replica_count: int = Field(1, ge=0, le=1)
    """Pods: 1 (default) or 0 to stop the app and keep its volumes. LLaMA Board keeps
    its state in one process and the claims are ReadWriteOnce, so more than one
    replica is not supported."""

    image: ImageValues = Field(default_factory=ImageValues)
    """Container image."""

    image_pull_secrets: list[ImagePullSecret] = Field(default_factory=list)
    """Secrets used to pull the image, as `[{name: …}]` or plain names."""

    gradio: GradioValues = Field(default_factory=GradioValues)
    """LLaMA Board settings (`webui` mode)."""

    api: ApiValues = Field(default_factory=ApiValues)
    """API settings (`api` mode)."""

    huggingface: HuggingFaceValues = Field(default_factory=HuggingFaceValues)
    """Hugging Face Hub access."""

    extra_env: list[EnvVar] = Field(default_factory=list)
    """More environment variables as `[{name, value}]`; numbers and booleans become
    strings (`1` → `"1"`). Variables the chart sets itself are rejected with the key
    to use instead."""

    service: ServiceValues = Field(default_factory=ServiceValues)
    """The Service."""

    resources: ResourcesValues = Field(default_factory=ResourcesValues)
    """Requests and limits of the container."""

    shm_size_gi: int = Field(16, ge=0, le=4096)
    """Size of the memory-backed `/dev/shm` in GiB, for DataLoader workers and NCCL
    (a container runtime's default is 64 MB). Default 16; 0 mounts none. It counts
    against `resources.limits.memory`."""

    persistence: PersistenceValues = Field(default_factory=PersistenceValues)
    """Volumes."""

    probes: ProbesValues = Field(default_factory=ProbesValues)
    """Probe timing."""

    pod_security_context: PodSecurityContextValues = Field(default_factory=PodSecurityContextValues)
    """Pod security context."""

    security_context: SecurityContextValues = Field(default_factory=SecurityContextValues)
    """Container security context."""

    pod_labels: dict[Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)], LabelValue] = Field(
        default_factory=dict
    )
    """Extra pod labels. The `hpe-ezua/*` and `app.kubernetes.io/*` labels are set by
    the chart and cannot be overridden here."""

    pod_annotations: dict[Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)], NoControlChars] = Field(
        default_factory=dict
    )
    """Extra pod annotations."""

    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations. With GPUs, the `nvidia.com/gpu` NoSchedule toleration is added
    unless one for that key is already present."""

    node_selector: dict[Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)], LabelValue] = Field(
        default_factory=dict
    )
    """Node labels the pod must match."""

    affinity: dict[Literal["nodeAffinity", "podAffinity", "podAntiAffinity"], dict[str, Any]] = Field(
        default_factory=dict
    )
    """Kubernetes affinity, passed through as written. Keys are checked against the
    Kubernetes API, because a misspelled key would otherwise be dropped without a
    word and could leave an empty node selector term that matches no node."""

    @field_validator("affinity")
    @classmethod
    def _affinity_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            _check_keys(item, AFFINITY_SCHEMA[key], key)
        return value

    host_ipc: bool = Field(False, alias="hostIPC")
    """Share the node's IPC namespace. Default false; `shmSizeGi` gives NCCL the
    shared memory it needs without it."""

    network_policy: NetworkPolicyValues = Field(default_factory=NetworkPolicyValues)
    """Network access to the app's port."""

    ezua: EzuaValues = Field(default_factory=EzuaValues)
    """PCAI integration."""

    training: TrainingValues = Field(default_factory=TrainingValues)
    """A fine-tuning run as a batch Job or multi-node PyTorchJob. Off by default."""

    @field_validator("image_pull_secrets", mode="before")
    @classmethod
    def _secret_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("shm_size_gi", mode="before")
    @classmethod
    def _shm_digits(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip(ASCII_SPACE)):
            return int(value)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Values:
        if self.mode == "api" and not self.api.model:
            raise KeyedError(
                "api.model",
                "missing; api mode serves one model and cannot start without it, so "
                "set api.model (a Hugging Face id or a path on a volume) or use mode: webui",
            )

        port = self.container_port
        target = self.service.target_port
        if target is not None and target not in ("http", port):
            raise KeyedError(
                "service.targetPort",
                f"{target!r} differs from the {self.mode} port ({port}); remove "
                "service.targetPort and set "
                + ("gradio.serverPort" if self.mode == "webui" else "api.port"),
            )

        seen: set[str] = set()
        for index, variable in enumerate(self.extra_env):
            if variable.name in RESERVED_ENV:
                raise KeyedError(
                    f"extraEnv[{index}].name",
                    f"{variable.name} is set by the chart; {RESERVED_ENV[variable.name]}",
                )
            if variable.name in seen:
                raise KeyedError(f"extraEnv[{index}].name", f"{variable.name} is listed twice; keep one")
            seen.add(variable.name)

        startup = self.probes.startup
        failures = self.startup_failure_threshold
        if startup.period_seconds * failures < STARTUP_BUDGET_FLOOR_SECONDS:
            raise KeyedError(
                "probes.startup.failureThreshold",
                f"periodSeconds × failureThreshold = {startup.period_seconds} × {failures} "
                f"s is below the {STARTUP_BUDGET_FLOOR_SECONDS} s floor; a slow start would "
                "be killed, so raise probes.startup.failureThreshold",
            )

        if (self.persistence.webui_state.mount_path or "").rstrip("/") != WORKING_DIR:
            raise KeyedError(
                "persistence.webuiState.mountPath",
                f"must be {WORKING_DIR}, LLaMA Board's working directory, because it writes "
                "its state directories (saves/, cache/, config/) relative to it; remove the key",
            )

        users = [self.security_context.run_as_user, self.pod_security_context.run_as_user]
        user = next((uid for uid in users if uid is not None), None)
        if user == 0 and self.runs_as_non_root_requested:
            raise KeyedError(
                "podSecurityContext.runAsUser",
                "0 (root) contradicts runAsNonRoot: true, and the kubelet would refuse to start "
                "the container; set a non-zero UID such as 1000",
            )

        mounts: dict[str, str] = {}
        for key, path in self.mount_paths().items():
            normalized = re.sub("/+", "/", path).rstrip("/") or "/"
            if normalized in mounts:
                raise KeyedError(
                    key, f"{path!r} is also the mount path of {mounts[normalized]}; give each volume its own path"
                )
            if normalized in SYSTEM_PATHS:
                raise KeyedError(key, f"{path!r} would hide a system directory or the application in /app; choose another path")
            mounts[normalized] = key

        if self.training.enabled:
            problems = self._training_problems()
            if problems:
                raise KeyedErrors(problems)
        return self

    def _training_problems(self) -> list[KeyedError]:
        """Return every problem of an enabled training run, so that all are reported at once."""
        problems: list[KeyedError] = []
        args = self.training.args
        if args.model is None:
            problems.append(KeyedError(
                "training.args.model",
                "missing; training needs a base model, so set training.args.model (a Hugging Face "
                "id or a path on a volume) or training.enabled: false",
            ))
        if args.dataset is None:
            problems.append(KeyedError(
                "training.args.dataset",
                "missing; set training.args.dataset to dataset names from dataset_info.json in "
                "training.args.datasetDir, for example alpaca_en_demo",
            ))
        if not self.persistence.output.enabled:
            problems.append(KeyedError(
                "persistence.output.enabled",
                "false while training.enabled is true, so the checkpoints would go to an emptyDir "
                "and be lost when the training pod ends; set persistence.output.enabled: true",
            ))
        dataset_claim = self.disabled_claim_of(args.dataset_dir)
        if dataset_claim is not None:
            problems.append(KeyedError(
                "training.args.datasetDir",
                f"{args.dataset_dir!r} is on persistence.{dataset_claim}, whose enabled is false, so "
                "the training pod would find an empty emptyDir there; set "
                f"persistence.{dataset_claim}.enabled: true or another training.args.datasetDir",
            ))
        for index, variable in enumerate(self.extra_env):
            if variable.name in TRAINING_ENV:
                problems.append(KeyedError(
                    f"extraEnv[{index}].name",
                    f"{variable.name} is set by the training pods while training.enabled is true; "
                    "remove it (training.nodes and training.resources decide the torchrun settings)",
                ))
        if self.training.nodes > 1:
            for key, modes in TRAINING_CLAIM_MODES.items():
                claim: ClaimValues = getattr(self.persistence, key)
                if claim.enabled and claim.access_mode not in modes:
                    problems.append(KeyedError(
                        f"persistence.{to_camel(key)}.accessMode",
                        f"{claim.access_mode} cannot be shared by training.nodes: {self.training.nodes}, "
                        "because every training pod mounts this claim and a pod on another node cannot "
                        f"attach it; set persistence.{to_camel(key)}.accessMode: ReadWriteMany (with a "
                        "storage class that supports it) or training.nodes: 1. A claim that exists "
                        "keeps its access mode: copy its data to a new ReadWriteMany claim and set "
                        f"persistence.{to_camel(key)}.existingClaim",
                    ))
        return problems

    def disabled_claim_of(self, path: str) -> str | None:
        """Return the key (``data``) of the disabled claim whose mount path contains
        ``path``, or None. A disabled claim is an emptyDir in each pod."""
        normalized = re.sub("/+", "/", path).rstrip("/") or "/"
        for name in TRAINING_CLAIM_MODES:
            claim: ClaimValues = getattr(self.persistence, name)
            mount = self.hf_cache_mount_path if name == "hf_cache" else claim.mount_path or ""
            mount = re.sub("/+", "/", mount).rstrip("/") or "/"
            if not claim.enabled and (normalized == mount or normalized.startswith(f"{mount}/")):
                return to_camel(name)
        return None

    # --- derived settings, shared by the constructs and the chart renderer -----------

    @property
    def container_port(self) -> int:
        return self.gradio.server_port if self.mode == "webui" else self.api.port

    @property
    def service_port(self) -> int:
        return self.service.port if self.service.port is not None else self.container_port

    @property
    def startup_failure_threshold(self) -> int:
        configured = self.probes.startup.failure_threshold
        return configured if configured is not None else DEFAULT_STARTUP_FAILURES[self.mode]

    @property
    def runs_as_non_root_requested(self) -> bool:
        non_root = self.security_context.run_as_non_root
        if non_root is None:
            non_root = self.pod_security_context.run_as_non_root
        return bool(non_root)

    @property
    def runs_as_non_root(self) -> bool:
        """Whether the container's user is known not to be root."""
        user = self.security_context.run_as_user
        if user is None:
            user = self.pod_security_context.run_as_user
        return self.runs_as_non_root_requested or (user is not None and user != 0)

    @property
    def hf_cache_mount_path(self) -> str:
        configured = self.persistence.hf_cache.mount_path
        if configured is not None:
            return configured
        return NON_ROOT_HF_CACHE if self.runs_as_non_root else ROOT_HF_CACHE

    @property
    def training_shares_read_write_once(self) -> bool:
        """Whether the training pods mount a ReadWriteOnce claim that a running app pod
        mounts too, so that they must run on the app pod's node."""
        if self.replica_count < 1:
            return False
        claims: list[ClaimValues] = [getattr(self.persistence, name) for name in TRAINING_CLAIM_MODES]
        return any(claim.enabled and claim.access_mode == "ReadWriteOnce" for claim in claims)

    def mount_paths(self) -> dict[str, str]:
        """Return every volume mount path by its values key."""
        paths = {"persistence.hfCache.mountPath": self.hf_cache_mount_path}
        for name in ("data", "output"):
            claim: ClaimValues = getattr(self.persistence, name)
            paths[f"persistence.{to_camel(name)}.mountPath"] = claim.mount_path or ""
        base = (self.persistence.webui_state.mount_path or "").rstrip("/")
        for sub in WEBUI_STATE_DIRECTORIES:
            paths[f"persistence.webuiState.mountPath ({sub})"] = f"{base}/{sub}"
        return paths

    def warnings(self) -> list[str]:
        """Return findings that do not stop synthesis but that an operator should read."""
        findings: list[str] = []
        memory = self.resources.effective_limits.get("memory")
        if self.shm_size_gi > 0 and memory is not None:
            if _quantity_to_float(memory) < self.shm_size_gi * 2**30:
                findings.append(
                    f"resources.limits.memory ({memory}) is below shmSizeGi ({self.shm_size_gi}Gi); "
                    "memory-backed /dev/shm counts against the memory limit, so a full /dev/shm "
                    "gets the pod OOM-killed. Raise the limit or lower shmSizeGi."
                )
        if self.runs_as_non_root:
            for key, path in self.mount_paths().items():
                if path == "/root" or path.startswith("/root/"):
                    findings.append(
                        f"{key}: {path!r} is under /root, which a non-root user cannot enter in "
                        "the upstream image; set it outside /root, for example /cache/huggingface."
                    )
        if self.runs_as_non_root and self.pod_security_context.fs_group is None:
            findings.append(
                "podSecurityContext.fsGroup is unset while the container runs as non-root; most "
                "volume drivers then leave the claims owned by root and unwritable. Set fsGroup, "
                "for example to the runAsUser value."
            )
        if not self.ezua.virtual_service.enabled and self.ezua.authorization_policy.enabled:
            findings.append(
                "ezua.authorizationPolicy.enabled has no effect while ezua.virtualService.enabled "
                "is false: the login policy matches the VirtualService's host, so none is created."
            )
        if self.ezua.kyverno.enabled:
            findings.append(
                "ezua.kyverno.enabled is deprecated and has no effect: the hpe-ezua/* labels "
                "are set on the pod directly and no Kyverno policy is created."
            )
        for key, path in self.mount_paths().items():
            if path.rstrip("/") == "/app/data":
                findings.append(
                    f"{key}: mounting over /app/data hides the image's demo datasets and "
                    "dataset_info.json; /app/custom_data keeps them visible."
                )
        return findings
