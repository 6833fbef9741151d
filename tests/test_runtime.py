"""The real LLaMA Factory, started from our pod specs, passes the pod's own probes.

Each test renders a release (with the constructs or with ``helm template``, as its
parameters select), runs the Deployment's main container through tests/runtime_harness.py
with the llamafactory package that scripts/setup-runtime.sh installed, and probes it
as the kubelet would. Both versions the project names run: the chart's appVersion and
the default image tag. Run only this tier with ``pytest -m runtime``.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import require_tool, synth
from helm_support import helm_template
from runtime_browser import capture_page
from runtime_harness import (
    ARTIFACTS,
    PROBES,
    TEST_ENV,
    PodRun,
    build_tiny_model,
    require_chromium,
    require_runtime,
    runtime_versions,
)

pytestmark = pytest.mark.runtime

APP_VERSION, NEWEST = runtime_versions()[0], runtime_versions()[-1]

API_KEY = "runtime-test-key"
MODEL_PATH = "/app/output/tiny-llama"
BOARD_TEXT = "Model name"
"""Label of LLaMA Board's model selector, which the page shows once the board's load
event has returned from the server in English (the default language)."""


def render(source: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    if source == "constructs":
        return synth(settings)
    require_tool("helm")
    return helm_template(settings)


def assert_probes_pass(run: PodRun) -> None:
    probes = run.wait_for_probes()
    report = run.probe_report()
    assert set(probes) == set(PROBES), report
    for kind in PROBES:
        assert probes[kind].passed_at is not None, report
        assert probes[kind].failed is None, report


def grace_period(manifests: list[dict[str, Any]]) -> int:
    """Return the Deployment pod's terminationGracePeriodSeconds, which the kubelet waits before SIGKILL."""
    deployment = next(manifest for manifest in manifests if manifest["kind"] == "Deployment")
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def assert_probes_still_pass(run: PodRun) -> None:
    report = run.probe_report()
    assert run.exit_code() is None, report
    for kind in PROBES:
        assert run.probes[kind].failed is None, report


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


# (version, source) pairs: each version runs from both renders across the two modes.
WEBUI_CASES = [(APP_VERSION, "helm"), (NEWEST, "constructs")]
API_CASES = [(APP_VERSION, "constructs"), (NEWEST, "helm")]


@pytest.mark.parametrize(("version", "source"), WEBUI_CASES)
def test_webui_starts_and_renders(version: str, source: str, tmp_path: Path) -> None:
    venv = require_runtime(version)
    require_chromium()
    manifests = render(source, {})
    run = PodRun(manifests, venv=venv, workdir=tmp_path, test_env=TEST_ENV)

    with run:
        assert_probes_pass(run)
        page = capture_page(run, f"http://127.0.0.1:{run.ports['http']}/", expected_text=BOARD_TEXT, profile=tmp_path / "browser")
        assert_probes_still_pass(run)

    artifacts = ARTIFACTS / f"webui-{version}-{source}"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "board.png").write_bytes(page.png)
    (artifacts / "board.html").write_text(page.html, encoding="utf-8")
    (artifacts / "probes.txt").write_text(run.probe_report(), encoding="utf-8")
    assert BOARD_TEXT in page.text
    assert "Train" in page.text
    assert page.png.startswith(b"\x89PNG")
    # LLaMA Board writes its DeepSpeed configs into its cache directory, relative to
    # /app, at start. The root is read-only, so they can only be on a volume.
    state = tmp_path / "volumes" / "webui-state"
    written = sorted(state.rglob("ds_z3_config.json"))
    assert len(written) == 1, run.probe_report()
    cache_directory = written[0].parent.name
    assert run.host_path(f"/app/{cache_directory}") == state / cache_directory


@pytest.mark.parametrize(("version", "source"), WEBUI_CASES)
def test_webui_stops_on_sigterm(version: str, source: str, tmp_path: Path) -> None:
    """A rollout or drain stops LLaMA Board with SIGTERM, without waiting for SIGKILL.

    The board installs no SIGTERM handler, so it must not be PID 1 of its namespace,
    where the kernel would drop the signal.
    """
    venv = require_runtime(version)
    manifests = render(source, {})
    grace = grace_period(manifests)
    run = PodRun(manifests, venv=venv, workdir=tmp_path, test_env=TEST_ENV)

    with run:
        assert_probes_pass(run)
        namespace_pid = run.namespace_pid()
        result = run.stop(grace_seconds=grace)

    report = run.probe_report()
    assert result is not None, report
    assert not result.killed, f"still running {grace}s after SIGTERM, as PID {namespace_pid} of its namespace\n{report}"
    assert result.exit_status == 128 + signal.SIGTERM, report
    assert namespace_pid != 1, report


def test_webui_runs_as_non_root(tmp_path: Path) -> None:
    venv = require_runtime(NEWEST)
    settings = {"podSecurityContext": {"runAsUser": 10001, "runAsNonRoot": True, "fsGroup": 10001}}
    manifests = render("constructs", settings)
    run = PodRun(manifests, venv=venv, workdir=tmp_path, test_env=TEST_ENV)

    with run:
        assert_probes_pass(run)
        board = run.request("http", "/")

    assert board.status == 200
    written = sorted((tmp_path / "volumes" / "webui-state").rglob("ds_z3_config.json"))
    assert len(written) == 1, run.probe_report()
    assert written[0].stat().st_uid == 10001
    assert written[0].stat().st_gid == 10001


@pytest.mark.parametrize(("version", "source"), API_CASES)
def test_api_serves_tiny_model(version: str, source: str, tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    venv = require_runtime(version)
    secret = "llamafactory-api-key"
    settings = {
        "mode": "api",
        "api": {"model": MODEL_PATH, "template": "default", "existingSecret": secret},
        "huggingface": {"offline": True},
    }
    manifests = render(source, settings)
    run = PodRun(manifests, venv=venv, workdir=tmp_path, secrets={secret: {"api-key": API_KEY}}, test_env=TEST_ENV)
    shutil.copytree(tiny_models[version], run.host_path(MODEL_PATH))
    authorized = {"Authorization": f"Bearer {API_KEY}"}
    chat = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}

    with run:
        assert_probes_pass(run)
        anonymous = run.request("http", "/v1/models")
        wrong_key = run.request("http", "/v1/models", headers={"Authorization": "Bearer wrong"})
        models = run.request("http", "/v1/models", headers=authorized)
        completion = run.request(
            "http",
            "/v1/chat/completions",
            method="POST",
            headers={**authorized, "Content-Type": "application/json"},
            body=json.dumps(chat).encode(),
            timeout=120,
        )
        assert_probes_still_pass(run)
        namespace_pid = run.namespace_pid()
        stopped = run.stop(grace_seconds=grace_period(manifests))

    assert anonymous.status == 401
    assert wrong_key.status == 401
    assert models.status == 200, models.body
    assert models.json()["data"], models.body
    assert completion.status == 200, completion.body
    assert completion.json()["choices"][0]["message"]["role"] == "assistant"
    # The API pod keeps its own PID namespace, and uvicorn handles SIGTERM as its PID 1.
    assert namespace_pid == 1
    assert stopped is not None, run.probe_report()
    assert not stopped.killed, run.probe_report()


def test_lock_file_per_version() -> None:
    for version in runtime_versions():
        lock = Path(__file__).resolve().parent.parent / "tools" / "runtime" / f"llamafactory-{version}.txt"
        assert lock.exists(), f"{lock} not found; write it with tools/runtime/lock.sh {version} CUTOFF"
