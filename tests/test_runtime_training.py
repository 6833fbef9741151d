"""The single-node training Job, rendered from our values, trains for real with LLaMA Factory.

The test renders ``training.enabled: true`` with one node, with the constructs or with
``helm template`` as each case sets. It puts a tiny random-weight model and a
16-example dataset on the data claim and runs the Job's container through
tests/runtime_harness.py. There ``llamafactory-cli train`` reads ``train.yaml`` from
the mounted ConfigMap under a read-only root and writes a LoRA checkpoint to the
output claim. Run only the runtime tier with ``pytest -m runtime``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import require_tool
from helm_support import helm_template
from llamafactory_cdk8s.loading import values_from_mapping
from llamafactory_cdk8s.training import CONFIG_PATH, JOB_CONTAINER, synth_training
from runtime_harness import TEST_ENV, PodRun, build_tiny_model, require_runtime, runtime_versions

pytestmark = pytest.mark.runtime

APP_VERSION, NEWEST = runtime_versions()[0], runtime_versions()[-1]

DATA_PATH = "/app/custom_data"
OUTPUT_PATH = "/app/output"
MODEL_PATH = f"{DATA_PATH}/tiny-llama"
DATASET = "tiny_alpaca"
RUN_NAME = "runtime-test"
MAX_STEPS = 2
TRAIN_TIMEOUT_SECONDS = 600
"""Upper bound for one run, model loading included. A run took about 8 s on two CPU cores."""

TRAINING_TEMPLATES = ("templates/training-configmap.yaml", "templates/training-job.yaml")


def training_settings(**args: Any) -> dict[str, Any]:
    """Return the settings of a one-node CPU run of the tiny model. ``args`` override ``training.args``."""
    return {
        "huggingface": {"offline": True},
        "persistence": {"data": {"mountPath": DATA_PATH}, "output": {"mountPath": OUTPUT_PATH}},
        "training": {
            "enabled": True,
            "nodes": 1,
            "runName": RUN_NAME,
            "resources": {"limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 0}},
            "args": {
                "model": MODEL_PATH,
                "dataset": DATASET,
                "datasetDir": DATA_PATH,
                "template": "default",
                "finetuningType": "lora",
                "cutoffLen": 64,
                "gradientAccumulationSteps": 1,
                "maxSteps": MAX_STEPS,
                "saveSteps": MAX_STEPS,
                "loggingSteps": 1,
                "precision": "fp32",
                **args,
            },
        },
    }


def render(source: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    if source == "constructs":
        return synth_training(values_from_mapping(settings))
    require_tool("helm")
    extra: tuple[str, ...] = ()
    for template in TRAINING_TEMPLATES:
        extra += ("--show-only", template)
    return helm_template(settings, extra=extra)


def write_dataset(directory: Path) -> None:
    """Write 16 alpaca-format examples and the ``dataset_info.json`` that names them."""
    directory.mkdir(parents=True, exist_ok=True)
    examples = [
        {"instruction": f"Say the number {number}.", "input": "", "output": f"The number is {number}."}
        for number in range(16)
    ]
    (directory / f"{DATASET}.json").write_text(json.dumps(examples), encoding="utf-8")
    info = {DATASET: {"file_name": f"{DATASET}.json"}}
    (directory / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the tiny model once per version, with that version's own transformers."""
    models = {}
    for version in runtime_versions():
        venv = require_runtime(version)
        output = tmp_path_factory.mktemp(f"model-{version}") / "tiny-llama"
        build_tiny_model(venv, output)
        models[version] = output
    return models


def prepare_run(settings: dict[str, Any], source: str, version: str, workdir: Path, model: Path) -> PodRun:
    """Return the Job's container, ready to start, with the tiny model and dataset on the data claim."""
    manifests = render(source, settings)
    run = PodRun(manifests, kind="Job", venv=require_runtime(version), workdir=workdir, test_env=TEST_ENV)
    shutil.copytree(model, run.host_path(MODEL_PATH), dirs_exist_ok=True)
    write_dataset(run.host_path(DATA_PATH))
    return run


def train(run: PodRun, label: str) -> tuple[int, str]:
    """Run the container until it exits, and return its exit status and output."""
    started = time.monotonic()
    with run:
        exit_code = run.wait_for_exit(TRAIN_TIMEOUT_SECONDS)
    print(f"{label}: training exited {exit_code} after {time.monotonic() - started:.1f}s")
    return exit_code, run.log_path.read_text(errors="replace")


NON_ROOT = {"podSecurityContext": {"runAsUser": 10001, "runAsNonRoot": True, "fsGroup": 10001}}

# (version, source, precision, extra settings). The default bf16 on a CPU needs the
# use_cpu that the chart writes without GPUs: LLaMA Factory 0.9.5 rejects it otherwise.
TRAINING_CASES = [
    (APP_VERSION, "helm", "fp32", {}),
    (NEWEST, "constructs", "bf16", {}),
    (NEWEST, "helm", "fp32", NON_ROOT),
]


@pytest.mark.parametrize(
    ("version", "source", "precision", "extra"), TRAINING_CASES, ids=["app-version", "newest-bf16", "newest-non-root"]
)
def test_job_trains_lora_checkpoint(
    version: str, source: str, precision: str, extra: dict[str, Any], tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    settings = {**training_settings(precision=precision), **extra}
    run = prepare_run(settings, source, version, tmp_path, tiny_models[version])
    assert run.container["name"] == JOB_CONTAINER
    assert run.container["command"] == ["llamafactory-cli", "train", CONFIG_PATH]
    assert run.container["securityContext"]["readOnlyRootFilesystem"] is True

    exit_code, log = train(run, f"llamafactory {version} ({source}, {precision})")

    assert exit_code == 0, run.log_tail(80)
    checkpoint = run.host_path(f"{OUTPUT_PATH}/{RUN_NAME}/checkpoint-{MAX_STEPS}")
    assert checkpoint == tmp_path / "volumes" / "output" / RUN_NAME / f"checkpoint-{MAX_STEPS}"
    assert (checkpoint / "adapter_config.json").is_file(), run.log_tail(80)
    assert (checkpoint / "adapter_model.safetensors").stat().st_size > 0
    adapter = json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["peft_type"] == "LORA"
    assert adapter["base_model_name_or_path"] == MODEL_PATH
    # The root is read-only, so a write outside the volumes fails. One that the trainer
    # caught and logged would show here.
    assert "Read-only file system" not in log, run.log_tail(80)
    if "podSecurityContext" in extra:
        assert (checkpoint / "adapter_config.json").stat().st_uid == 10001


def test_job_retry_resumes_from_checkpoint(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """A retried pod finds the checkpoint of the failed one on the output claim and resumes from it."""
    settings = training_settings(maxSteps=3, saveSteps=2)
    first = prepare_run(settings, "constructs", NEWEST, tmp_path, tiny_models[NEWEST])
    exit_code, _ = train(first, f"llamafactory {NEWEST}, first attempt")
    assert exit_code == 0, first.log_tail(80)
    # Leave the output as a pod that died between step 2 and step 3 would: checkpoint-2 only.
    output = first.host_path(f"{OUTPUT_PATH}/{RUN_NAME}")
    for entry in output.iterdir():
        if entry.name == "checkpoint-2":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()

    retry = prepare_run(settings, "constructs", NEWEST, tmp_path, tiny_models[NEWEST])
    exit_code, log = train(retry, f"llamafactory {NEWEST}, retry")

    assert exit_code == 0, retry.log_tail(80)
    assert f"Resuming training from {OUTPUT_PATH}/{RUN_NAME}/checkpoint-2" in log, retry.log_tail(80)
    assert (output / "checkpoint-3" / "adapter_model.safetensors").is_file()
