"""Tests of the values model and of loading layered values files."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import llamafactory_cdk8s  # noqa: F401  (sets JSII_NODE before cdk8s starts)
import pytest
import yaml
import hypothesis
from hypothesis import given
from hypothesis import strategies as st

from llamafactory_cdk8s import SettingsError, Values, load_values, values_from_mapping
from llamafactory_cdk8s.loading import deep_merge, drop_nulls
from llamafactory_cdk8s.values import GPU_RESOURCE, quantity_string

DATA = Path(__file__).resolve().parent / "data"
CASES = DATA / "cases"


def write_yaml(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults -------------------------------------------------------------------------


def test_defaults_mode_and_ports() -> None:
    values = Values()

    assert values.mode == "webui"
    assert values.container_port == 7860
    assert values.service_port == 7860
    assert values.replica_count == 1


def test_defaults_image_reference() -> None:
    values = Values()

    assert values.image.reference() == "hiyouga/llamafactory:0.9.5"
    assert values.image.pull_policy == "Always"


def test_defaults_one_gpu_both_sides() -> None:
    resources = Values().resources

    assert resources.effective_requests[GPU_RESOURCE] == "1"
    assert resources.effective_limits[GPU_RESOURCE] == "1"
    assert resources.gpus == 1


def test_defaults_volumes() -> None:
    values = Values()

    assert values.persistence.hf_cache.size == "200Gi"
    assert values.hf_cache_mount_path == "/root/.cache/huggingface"
    assert values.persistence.data.size == "50Gi"
    assert values.persistence.data.mount_path == "/app/custom_data"
    assert values.persistence.output.size == "100Gi"
    assert values.persistence.output.mount_path == "/app/output"


def test_defaults_have_no_warnings() -> None:
    assert Values().warnings() == []


def test_empty_mapping_equals_defaults() -> None:
    assert values_from_mapping({}) == Values()


def test_none_mapping_equals_defaults() -> None:
    assert values_from_mapping(None) == Values()


def test_dump_loads_back_unchanged() -> None:
    values = values_from_mapping({"mode": "api", "api": {"model": "org/model"}, "shmSizeGi": 8})

    dumped = values.model_dump(by_alias=True)

    assert values_from_mapping(dumped) == values


# --- image and names ------------------------------------------------------------------


def test_image_reference_with_registry_and_digest() -> None:
    digest = "sha256:" + "a" * 64

    values = values_from_mapping({"image": {"registry": "${AIRGAP_REGISTRY}/", "tag": "0.9.4", "digest": digest}})

    assert values.image.reference() == f"${{AIRGAP_REGISTRY}}/hiyouga/llamafactory:0.9.4@{digest}"


def test_pull_secrets_as_plain_names() -> None:
    values = values_from_mapping({"imagePullSecrets": ["regcred", {"name": "mirror"}]})

    assert [secret.name for secret in values.image_pull_secrets] == ["regcred", "mirror"]


def test_release_name_53_chars_accepted() -> None:
    name = "a" * 53

    values = values_from_mapping({"releaseName": name})

    assert values.release_name == name


@given(st.from_regex(r"[a-z]([-a-z0-9]{0,51}[a-z0-9])?", fullmatch=True))
def test_any_dns_label_release_name_accepted(name: str) -> None:
    values = values_from_mapping({"releaseName": name})

    assert values.release_name == name


# --- numbers and unsafe strings -------------------------------------------------------


def test_env_numbers_become_strings() -> None:
    path = CASES / "c1-env.yaml"
    raw = yaml.safe_load(path.read_text())
    assert [variable["value"] for variable in raw["extraEnv"]] == [1, 4194304]

    values = load_values([path])

    assert [variable.value for variable in values.extra_env] == ["1", "4194304"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1.5, "1.5"), (True, "true"), (False, "false"), (1e6, "1000000"), (0, "0"), (None, "")],
    ids=["float", "true", "false", "float-1e6", "zero", "null"],
)
def test_env_value_to_string(raw: Any, expected: str) -> None:
    values = values_from_mapping({"extraEnv": [{"name": "X", "value": raw}]})

    assert values.extra_env[0].value == expected


def test_env_value_yaml_float_exponent() -> None:
    raw = yaml.safe_load("value: 1.0e+6")["value"]
    assert isinstance(raw, float)

    values = values_from_mapping({"extraEnv": [{"name": "X", "value": raw}]})

    assert values.extra_env[0].value == "1000000"


def test_env_value_string_kept_as_written() -> None:
    values = values_from_mapping({"extraEnv": [{"name": "X", "value": "1e6"}]})

    assert values.extra_env[0].value == "1e6"


def test_endpoint_injection_rejected() -> None:
    path = CASES / "c1-injection.yaml"

    with pytest.raises(SettingsError, match=r"ezua\.virtualService\.endpoint") as info:
        load_values([path])

    assert info.value.source == str(path)


def test_endpoint_placeholder_accepted() -> None:
    values = values_from_mapping({"ezua": {"virtualService": {"endpoint": "lf.${DOMAIN_NAME}"}}})

    assert values.ezua.virtual_service.endpoint == "lf.${DOMAIN_NAME}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(4, "4"), (1.0, "1"), (0.5, "0.5"), ("500m", "500m"), (True, True)],
    ids=["int", "whole-float", "fraction", "string", "bool"],
)
def test_quantity_string(raw: Any, expected: Any) -> None:
    assert quantity_string(raw) == expected


def test_resource_numbers_become_strings() -> None:
    values = values_from_mapping({"resources": {"requests": {"cpu": 2}, "limits": {"cpu": 4.0}}})

    assert values.resources.effective_requests["cpu"] == "2"
    assert values.resources.effective_limits["cpu"] == "4"


# --- null and empty values ------------------------------------------------------------


def test_null_section_names_key() -> None:
    with pytest.raises(SettingsError, match=r"persistence\.hfCache: null is not allowed") as info:
        load_values([CASES / "c2.yaml"])

    assert len(info.value.problems) == 1


def test_null_lists_and_maps_default() -> None:
    raw = yaml.safe_load((CASES / "c2.yaml").read_text())
    del raw["persistence"]
    assert raw["tolerations"] is None

    values = values_from_mapping(raw)

    assert values.tolerations == []
    assert values.node_selector == {}


def test_empty_token_needs_no_secret() -> None:
    values = values_from_mapping({"huggingface": {"token": ""}})

    assert values.huggingface.token == ""
    assert values.huggingface.existing_secret is None


@pytest.mark.parametrize("section", ["huggingface", "api"])
def test_empty_existing_secret_is_unset(section: str) -> None:
    values = values_from_mapping({section: {"existingSecret": ""}})

    assert getattr(values, section).existing_secret is None


def test_empty_existing_claim_is_unset() -> None:
    values = values_from_mapping({"persistence": {"data": {"existingClaim": ""}}})

    assert values.persistence.data.existing_claim is None


def test_null_optional_setting_keeps_default() -> None:
    values = values_from_mapping({"api": {"model": None}, "service": {"port": None}})

    assert values.api.model is None
    assert values.service_port == 7860


# --- /dev/shm and the memory limit ----------------------------------------------------


def test_shm_string_equals_number() -> None:
    raw = yaml.safe_load((CASES / "c5.yaml").read_text())

    from_string = values_from_mapping({**raw, "shmSizeGi": "16"})
    from_number = values_from_mapping({**raw, "shmSizeGi": 16})

    assert from_string.shm_size_gi == 16
    assert from_string == from_number


def test_memory_below_shm_warns() -> None:
    values = load_values([CASES / "c5.yaml"])

    warnings = values.warnings()

    assert len(warnings) == 1
    assert "resources.limits.memory" in warnings[0]
    assert "shmSizeGi" in warnings[0]


def test_limit_only_sets_request() -> None:
    values = values_from_mapping({"shmSizeGi": 16, "resources": {"limits": {"memory": "8Gi"}}})

    requests = values.resources.effective_requests

    assert requests["memory"] == "8Gi"
    assert requests["cpu"] == "8"
    assert requests["nvidia.com/gpu"] == "1"


def test_shm_zero_allowed_without_warning() -> None:
    memory = {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}

    values = values_from_mapping({"shmSizeGi": 0, "resources": memory})

    assert values.shm_size_gi == 0
    assert values.warnings() == []


# --- GPU requests and limits ----------------------------------------------------------


def test_gpu_mismatch_rejected() -> None:
    with pytest.raises(SettingsError, match=r"resources\.requests\.nvidia\.com/gpu: 1 GPUs differs"):
        load_values([CASES / "c6-mismatch.yaml"])


def test_gpu_limit_copied_to_request() -> None:
    values = load_values([CASES / "c6-one-side.yaml"])

    assert values.resources.effective_requests[GPU_RESOURCE] == "2"
    assert values.resources.effective_limits[GPU_RESOURCE] == "2"
    assert values.resources.gpus == 2


def test_gpu_request_copied_to_limit() -> None:
    settings = {"resources": {"requests": {GPU_RESOURCE: 3}, "limits": {GPU_RESOURCE: None}}}

    values = values_from_mapping(settings)

    assert values.resources.effective_requests[GPU_RESOURCE] == "3"
    assert values.resources.effective_limits[GPU_RESOURCE] == "3"


def test_zero_gpus_leaves_key_out() -> None:
    values = values_from_mapping({"resources": {"limits": {GPU_RESOURCE: 0}}})

    assert GPU_RESOURCE not in values.resources.effective_requests
    assert GPU_RESOURCE not in values.resources.effective_limits
    assert values.resources.gpus == 0


def test_cpu_limit_taken_from_request() -> None:
    settings = {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": None}}}

    values = values_from_mapping(settings)

    assert values.resources.effective_limits["cpu"] == "2"


def test_partial_limits_keep_other_defaults() -> None:
    values = values_from_mapping({"resources": {"limits": {"memory": "48Gi"}}})

    assert values.resources.effective_limits == {"cpu": "8", "memory": "48Gi", GPU_RESOURCE: "1"}


# --- API mode and startup probes ------------------------------------------------------


def test_api_without_model_names_key() -> None:
    with pytest.raises(SettingsError, match=r"api\.model: missing; .*set api\.model"):
        load_values([CASES / "c8-no-model.yaml"])


def test_api_with_model() -> None:
    values = load_values([CASES / "c8-model.yaml"])

    assert values.api.model == "Qwen/Qwen2.5-0.5B-Instruct"
    assert values.api.api_key == "change-me"
    assert values.api.has_key is True
    assert values.container_port == 8000
    assert values.service_port == 8000


def test_startup_default_webui() -> None:
    values = Values()

    assert values.startup_failure_threshold == 60
    assert values.probes.startup.period_seconds * values.startup_failure_threshold == 600


def test_startup_default_api() -> None:
    values = values_from_mapping({"mode": "api", "api": {"model": "org/model"}})

    assert values.startup_failure_threshold == 180


def test_startup_threshold_setting_wins() -> None:
    values = values_from_mapping({"probes": {"startup": {"failureThreshold": 120}}})

    assert values.startup_failure_threshold == 120


def test_partial_probe_keeps_other_defaults() -> None:
    values = values_from_mapping({"probes": {"liveness": {"periodSeconds": 60}}})

    assert values.probes.liveness.period_seconds == 60
    assert values.probes.liveness.failure_threshold == 5


# --- non-root -------------------------------------------------------------------------


def test_non_root_moves_model_cache() -> None:
    values = load_values([CASES / "c10.yaml"])

    assert values.runs_as_non_root is True
    assert values.hf_cache_mount_path == "/cache/huggingface"
    assert values.security_context.read_only_root_filesystem is True


def test_non_root_from_uid_alone() -> None:
    values = values_from_mapping({"podSecurityContext": {"runAsUser": 1000}})

    assert values.runs_as_non_root is True


def test_container_uid_zero_overrides_pod() -> None:
    values = values_from_mapping({"podSecurityContext": {"runAsUser": 1000}, "securityContext": {"runAsUser": 0}})

    assert values.runs_as_non_root is False
    assert values.hf_cache_mount_path == "/root/.cache/huggingface"


def test_non_root_cache_under_root_warns() -> None:
    settings = {
        "podSecurityContext": {"runAsUser": 1000, "fsGroup": 1000},
        "persistence": {"hfCache": {"mountPath": "/root/.cache/huggingface"}},
    }

    warnings = values_from_mapping(settings).warnings()

    assert len(warnings) == 1
    assert warnings[0].startswith("persistence.hfCache.mountPath:")


def test_non_root_without_fs_group_warns() -> None:
    warnings = values_from_mapping({"podSecurityContext": {"runAsUser": 1000}}).warnings()

    assert len(warnings) == 1
    assert warnings[0].startswith("podSecurityContext.fsGroup")


def test_release_name_starting_with_digit_rejected() -> None:
    with pytest.raises(SettingsError, match="releaseName: .*starting with a letter"):
        values_from_mapping({"releaseName": "1lf"})


# --- mounts and other warnings --------------------------------------------------------


def test_webui_state_mounted_in_both_modes() -> None:
    webui = Values().mount_paths()

    api = values_from_mapping({"mode": "api", "api": {"model": "org/model"}}).mount_paths()

    assert webui["persistence.webuiState.mountPath (saves)"] == "/app/saves"
    assert api["persistence.webuiState.mountPath (saves)"] == "/app/saves"


def test_api_output_over_state_rejected() -> None:
    settings = {"mode": "api", "api": {"model": "m"}, "persistence": {"output": {"mountPath": "/app/saves"}}}

    with pytest.raises(SettingsError, match="persistence.webuiState.mountPath \\(saves\\)"):
        values_from_mapping(settings)


def test_mount_over_app_data_warns() -> None:
    values = values_from_mapping({"persistence": {"data": {"mountPath": "/app/data"}}})

    warnings = values.warnings()

    assert len(warnings) == 1
    assert "persistence.data.mountPath" in warnings[0]
    assert "dataset_info.json" in warnings[0]


def test_partial_claim_keeps_other_defaults() -> None:
    values = values_from_mapping({"persistence": {"data": {"enabled": False}, "output": {"storageClass": "fast"}}})

    assert values.persistence.data.enabled is False
    assert values.persistence.data.mount_path == "/app/custom_data"
    assert values.persistence.output.storage_class == "fast"
    assert values.persistence.output.size == "100Gi"


def test_target_port_matching_accepted() -> None:
    by_name = values_from_mapping({"service": {"targetPort": "http"}})

    by_number = values_from_mapping({"mode": "api", "api": {"model": "m"}, "service": {"targetPort": 8000}})

    assert by_name.service.target_port == "http"
    assert by_number.service.target_port == 8000


# --- a values file of the replaced chart ----------------------------------------------


@pytest.fixture(scope="module")
def old_chart() -> Values:
    return load_values([DATA / "seed-values.yaml"])


def test_old_chart_file_lists_every_old_key() -> None:
    raw = yaml.safe_load((DATA / "seed-values.yaml").read_text())
    expected = {
        "replicaCount", "image", "imagePullSecrets", "nameOverride", "fullnameOverride", "mode",
        "gradio", "api", "extraEnv", "huggingface", "service", "resources", "shmSizeGi",
        "persistence", "podSecurityContext", "securityContext", "tolerations", "nodeSelector",
        "affinity", "hostIPC", "ezua",
    }

    assert set(raw) == expected
    assert set(raw["ezua"]) == {"virtualService", "kyverno"}
    assert set(raw["persistence"]) == {"hfCache", "data", "output"}


def test_old_chart_image(old_chart: Values) -> None:
    assert old_chart.image.reference() == "hiyouga/llamafactory:latest"
    assert old_chart.image.pull_policy == "IfNotPresent"
    assert [secret.name for secret in old_chart.image_pull_secrets] == ["regcred"]


def test_old_chart_mode_and_ports(old_chart: Values) -> None:
    assert old_chart.replica_count == 1
    assert old_chart.mode == "webui"
    assert old_chart.gradio.server_port == 7860
    assert old_chart.gradio.server_name == "0.0.0.0"
    assert old_chart.api.port == 8000
    assert old_chart.service.type == "ClusterIP"
    assert old_chart.service_port == 7860
    assert old_chart.service.target_port == "http"


def test_old_chart_extra_env(old_chart: Values) -> None:
    assert [(variable.name, variable.value) for variable in old_chart.extra_env] == [
        ("NCCL_DEBUG", "INFO"),
        ("OMP_NUM_THREADS", "8"),
    ]


def test_old_chart_huggingface(old_chart: Values) -> None:
    assert old_chart.huggingface.token == ""
    assert old_chart.huggingface.existing_secret is None
    assert old_chart.huggingface.existing_secret_key == "token"


def test_old_chart_resources(old_chart: Values) -> None:
    assert old_chart.resources.effective_requests == {"cpu": "4", "memory": "32Gi", GPU_RESOURCE: "1"}
    assert old_chart.resources.effective_limits == {"cpu": "8", "memory": "64Gi", GPU_RESOURCE: "1"}
    assert old_chart.shm_size_gi == 16


def test_old_chart_persistence(old_chart: Values) -> None:
    persistence = old_chart.persistence

    assert persistence.hf_cache.size == "200Gi"
    assert old_chart.hf_cache_mount_path == "/root/.cache/huggingface"
    assert persistence.data.size == "50Gi"
    assert persistence.data.mount_path == "/app/custom_data"
    assert persistence.output.size == "100Gi"
    assert persistence.output.mount_path == "/app/output"
    assert persistence.output.access_mode == "ReadWriteOnce"
    assert persistence.output.storage_class == ""


def test_old_chart_scheduling(old_chart: Values) -> None:
    assert len(old_chart.tolerations) == 1
    assert old_chart.tolerations[0].key == GPU_RESOURCE
    assert old_chart.tolerations[0].effect == "NoSchedule"
    assert old_chart.node_selector == {}
    assert old_chart.affinity == {}
    assert old_chart.host_ipc is False


def test_old_chart_host_ipc_true() -> None:
    values = values_from_mapping({"hostIPC": True})

    assert values.host_ipc is True


def test_old_chart_ezua(old_chart: Values) -> None:
    route = old_chart.ezua.virtual_service

    assert route.enabled is True
    assert route.endpoint == "llamafactory.${DOMAIN_NAME}"
    assert route.istio_gateway == "istio-system/ezaf-gateway"


def test_old_chart_kyverno_labels_kept(old_chart: Values) -> None:
    assert old_chart.ezua.kyverno.enabled is True
    assert old_chart.ezua.kyverno.labels == {"sidecar.istio.io/inject": "true"}


def test_old_chart_kyverno_enabled_warns(old_chart: Values) -> None:
    warnings = old_chart.warnings()

    assert len(warnings) == 1
    assert warnings[0].startswith("ezua.kyverno.enabled is deprecated")


# --- deep_merge and drop_nulls --------------------------------------------------------


def test_deep_merge_maps_merge() -> None:
    merged = deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}})

    assert merged == {"a": {"x": 1, "y": 3}}


def test_deep_merge_lists_replace() -> None:
    merged = deep_merge({"a": [1, 2]}, {"a": [3]})

    assert merged == {"a": [3]}


def test_deep_merge_null_removes_key() -> None:
    merged = deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"x": None}})

    assert merged == {"a": {"y": 2}}


def test_deep_merge_keep_nulls() -> None:
    merged = deep_merge({"a": {"x": 1}}, {"a": {"x": None}}, keep_nulls=True)

    assert merged == {"a": {"x": None}}


def test_deep_merge_leaves_inputs_alone() -> None:
    base = {"a": {"x": 1}}
    override = {"a": {"x": 2}}

    deep_merge(base, override)

    assert base == {"a": {"x": 1}}
    assert override == {"a": {"x": 2}}


def test_drop_nulls_empty_default() -> None:
    cleaned = drop_nulls({"tolerations": None, "persistence": {"data": {"existingClaim": None, "size": "1Gi"}}})

    assert cleaned == {"persistence": {"data": {"size": "1Gi"}}}


def test_drop_nulls_real_default_rejected() -> None:
    with pytest.raises(SettingsError, match=r"persistence\.output\.size: null is not allowed") as info:
        drop_nulls({"persistence": {"output": {"size": None}}})

    assert "the default '100Gi'" in str(info.value)


def test_drop_nulls_section_default_named() -> None:
    with pytest.raises(SettingsError, match=r"persistence\.data\.mountPath: .* default '/app/custom_data'"):
        drop_nulls({"persistence": {"data": {"mountPath": None}}})


def test_drop_nulls_mode_default_allowed() -> None:
    cleaned = drop_nulls({"probes": {"startup": {"failureThreshold": None}}})

    assert cleaned == {"probes": {"startup": {}}}


def test_drop_nulls_reports_every_key() -> None:
    with pytest.raises(SettingsError) as info:
        drop_nulls({"image": None, "probes": {"startup": None}})

    assert [problem.split(":")[0] for problem in info.value.problems] == ["image", "probes.startup"]


# --- layered files --------------------------------------------------------------------


def test_later_file_wins(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "shmSizeGi: 8\n")
    second = write_yaml(tmp_path, "b.yaml", "shmSizeGi: 32\n")

    values = load_values([first, second])

    assert values.shm_size_gi == 32


def test_layered_maps_merge(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "persistence: {output: {size: 1Ti}}\n")
    second = write_yaml(tmp_path, "b.yaml", "persistence: {output: {storageClass: fast}}\n")

    values = load_values([first, second])

    assert values.persistence.output.size == "1Ti"
    assert values.persistence.output.storage_class == "fast"
    assert values.persistence.output.mount_path == "/app/output"


def test_layered_lists_replace(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "extraEnv: [{name: A, value: x}, {name: B, value: y}]\n")
    second = write_yaml(tmp_path, "b.yaml", "extraEnv: [{name: C, value: z}]\n")

    values = load_values([first, second])

    assert [variable.name for variable in values.extra_env] == ["C"]


def test_layered_null_clears_earlier_map(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "podLabels: {team: ml}\n")
    second = write_yaml(tmp_path, "b.yaml", "podLabels: null\n")

    values = load_values([first, second])

    assert values.pod_labels == {}


def test_layered_null_section_rejected(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "image: {tag: 0.9.4}\n")
    second = write_yaml(tmp_path, "b.yaml", "image:\n")

    with pytest.raises(SettingsError, match=r"image: null is not allowed") as info:
        load_values([first, second])

    assert info.value.source == f"{first}, {second}"


def test_overrides_win_over_files(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "shmSizeGi: 8\nreplicaCount: 0\n")

    values = load_values([first], overrides={"shmSizeGi": 4})

    assert values.shm_size_gi == 4
    assert values.replica_count == 0


def test_no_files_equal_defaults() -> None:
    assert load_values([]) == Values()


@pytest.mark.parametrize(
    "text", ["", "\n", "# only a comment\n", "---\n"], ids=["empty", "newline", "comment", "document-marker"]
)
def test_empty_file_equals_defaults(tmp_path: Path, text: str) -> None:
    path = write_yaml(tmp_path, "empty.yaml", text)

    values = load_values([path])

    assert values == Values()


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int")],
    ids=["list", "string", "number"],
)
def test_non_mapping_root_rejected(tmp_path: Path, text: str, kind: str) -> None:
    path = write_yaml(tmp_path, "root.yaml", text)

    with pytest.raises(SettingsError, match=rf"\(root\): expected a mapping of settings, got {kind}") as info:
        load_values([path])

    assert info.value.source == str(path)


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "broken.yaml", "image: {tag: [unclosed\n")

    with pytest.raises(SettingsError, match="not valid YAML") as info:
        load_values([path])

    assert info.value.source == str(path)
    assert str(path) in str(info.value)


def test_missing_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(SettingsError, match="cannot read the file") as info:
        load_values([path])

    assert str(path) in str(info.value)


def test_error_names_every_file(tmp_path: Path) -> None:
    first = write_yaml(tmp_path, "a.yaml", "shmSizeGi: 8\n")
    second = write_yaml(tmp_path, "b.yaml", "replicaCount: 2\n")

    with pytest.raises(SettingsError, match=r"replicaCount") as info:
        load_values([first, second])

    assert str(info.value).startswith(f"invalid settings in {first}, {second}:")


def test_every_problem_reported(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "bad.yaml", "replicaCount: 2\nshmSizeGi: -1\nmode: train\n")

    with pytest.raises(SettingsError) as info:
        load_values([path])

    keys = sorted(problem.split(":")[0] for problem in info.value.problems)
    assert keys == ["mode", "replicaCount", "shmSizeGi"]


# --- property: layering two files equals one merged mapping ---------------------------

label_values = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
env_lists = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C", "D"]), "value": label_values}),
    max_size=3,
    unique_by=lambda variable: variable["name"],
)
layers = st.fixed_dictionaries(
    {},
    optional={
        "shmSizeGi": st.integers(min_value=0, max_value=64),
        "replicaCount": st.integers(min_value=0, max_value=1),
        "extraEnv": st.none() | env_lists,
        "podLabels": st.none() | st.dictionaries(st.sampled_from(["team", "tier", "owner"]), label_values, max_size=3),
        "persistence": st.fixed_dictionaries(
            {},
            optional={
                "output": st.fixed_dictionaries(
                    {},
                    optional={
                        "size": st.sampled_from(["1Gi", "100Gi", "2Ti"]),
                        "storageClass": label_values,
                        "enabled": st.booleans(),
                    },
                ),
                "hfCache": st.fixed_dictionaries({}, optional={"size": st.sampled_from(["10Gi", "500Gi"])}),
            },
        ),
        "ezua": st.fixed_dictionaries(
            {},
            optional={
                "virtualService": st.fixed_dictionaries(
                    {}, optional={"endpoint": label_values.map(lambda host: f"{host}.${{DOMAIN_NAME}}")}
                ),
            },
        ),
    },
)


@hypothesis.settings(max_examples=50, deadline=None)
@given(layers, layers)
def test_two_files_equal_merged_mapping(first: dict[str, Any], second: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        paths = [
            # JSON is YAML that Helm's rules and PyYAML's read alike; PyYAML's own
            # dumper leaves strings such as 0e0 unquoted, which Helm reads as numbers.
            write_yaml(Path(directory), "a.yaml", json.dumps(first)),
            write_yaml(Path(directory), "b.yaml", json.dumps(second)),
        ]

        layered = load_values(paths)

    assert layered == values_from_mapping(deep_merge(first, second))
