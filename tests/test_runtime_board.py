"""What a user saves in the real LLaMA Board lands on the volumes that the pod declares.

The board runs from the default render through tests/runtime_harness.py, under a
read-only root, so a file that it writes outside the pod's volumes fails with
"Read-only file system". Headless Chromium drives the page with DevTools input
events, as a user would, and the test reads the files from the host directories
that back the pod's claims.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import synth
from runtime_browser import Browser
from runtime_harness import (
    PROBES,
    TEST_ENV,
    HarnessError,
    PodRun,
    require_chromium,
    require_runtime,
    runtime_versions,
)

pytestmark = pytest.mark.runtime

BOARD_DIRECTORIES = {
    "0.9.2": ("cache", "config"),
    "0.9.5": ("llamaboard_cache", "llamaboard_config"),
}
"""LLaMA Board's DEFAULT_CACHE_DIR and DEFAULT_CONFIG_DIR per version, relative to its
working directory /app (llamafactory/webui/common.py of each version)."""

MODEL_NAME = "Qwen2.5-0.5B-Instruct"
"""An entry of the board's model list in both versions. Choosing it only fills in the
model path, so nothing is downloaded."""

DATASET_NAME = "board_test_dataset"
SAVE_TIMEOUT = 30
"""Seconds to wait for a file after the input that saves it. The board writes the file
in the event handler, which took under a second in local runs on 2 cores."""


def select_option(browser: Browser, label: str, option: str) -> None:
    """Open the Gradio dropdown labelled ``label``, filter it by typing ``option``, and click that entry."""
    browser.click(f'input[aria-label="{label}"]')
    # Typing replaces the current value, so the filter matches only ``option``.
    browser.evaluate("document.activeElement.select()")
    browser.type_text(option)
    browser.click(f'ul.options li[aria-label="{option}"]')


def mark_element(browser: Browser, finder: str, description: str) -> str:
    """Give the element that the JavaScript expression ``finder`` returns a unique attribute, and return its selector.

    Raises ``HarnessError`` naming ``description`` when ``finder`` returns nothing.
    """
    marker = f"target-{time.monotonic_ns()}"
    found = browser.evaluate(
        f"""(() => {{
            const element = {finder};
            if (!element) return false;
            element.setAttribute("data-runtime-test", {json.dumps(marker)});
            return true;
        }})()"""
    )
    if not found:
        raise HarnessError(f"{description} not found on the page")
    return f'[data-runtime-test="{marker}"]'


def click_button(browser: Browser, text: str) -> None:
    finder = f"""Array.from(document.querySelectorAll("button")).find(
        button => button.offsetParent !== null && button.innerText.trim() === {json.dumps(text)})"""
    browser.click(mark_element(browser, finder, f"a visible button with the text {text!r}"))


def type_into_multiselect(browser: Browser, label: str, value: str) -> None:
    """Type ``value`` into the visible Gradio multiselect dropdown labelled ``label`` and press Enter.

    Gradio gives a multiselect's input no aria-label, so the input is found through
    the label text of its block.
    """
    finder = f"""Array.from(document.querySelectorAll("label")).filter(
        element => element.offsetParent !== null
            && element.querySelector('[data-testid="block-info"]')?.innerText.trim() === {json.dumps(label)}
    ).map(element => element.querySelector("input"))[0]"""
    browser.click(mark_element(browser, finder, f"a visible dropdown labelled {label!r}"))
    browser.type_text(value)
    browser.press_enter()


def wait_for_yaml(path: Path, condition: Callable[[Any], bool], *, run: PodRun) -> Any:
    """Poll ``path`` until it contains YAML that meets ``condition``, and return that YAML.

    Fails after ``SAVE_TIMEOUT`` seconds with the file's last content and the end of
    the container's log.
    """
    content: Any = None
    deadline = time.monotonic() + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            # The board may be halfway through writing it. A partial file does not
            # parse, or parses to something that fails the condition.
            try:
                content = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError:
                content = None
            if content is not None and condition(content):
                return content
        time.sleep(0.5)
    pytest.fail(f"{path} did not reach the expected content within {SAVE_TIMEOUT}s; it contains {content!r}\n{run.probe_report()}")


@pytest.mark.parametrize("version", runtime_versions())
def test_board_saves_settings_on_state_volume(version: str, tmp_path: Path) -> None:
    venv = require_runtime(version)
    require_chromium()
    if version not in BOARD_DIRECTORIES:
        pytest.fail(f"add LLaMA Board {version}'s DEFAULT_CACHE_DIR and DEFAULT_CONFIG_DIR to BOARD_DIRECTORIES")
    cache_directory, config_directory = BOARD_DIRECTORIES[version]
    run = PodRun(synth({}), venv=venv, workdir=tmp_path, test_env=TEST_ENV)
    state = tmp_path / "volumes" / "webui-state"
    user_config = state / cache_directory / "user_config.yaml"
    saved_arguments = state / config_directory
    # Both directories are mounted from the state claim, so the files below can only
    # appear there if the board wrote them through the pod's mounts.
    assert run.host_path(f"/app/{cache_directory}") == user_config.parent
    assert run.host_path(f"/app/{config_directory}") == saved_arguments

    with run:
        probes = run.wait_for_probes()
        assert all(probes[kind].passed_at is not None for kind in PROBES), run.probe_report()
        with Browser(run, tmp_path / "browser") as browser:
            browser.navigate(f"http://127.0.0.1:{run.ports['http']}/")
            browser.wait_for_text("Model name", timeout=120)
            # The board writes its user settings only on user input, never at start.
            assert not user_config.exists(), user_config.read_text(encoding="utf-8")

            select_option(browser, "Model name", MODEL_NAME)
            after_model = wait_for_yaml(user_config, lambda content: content.get("last_model") == MODEL_NAME, run=run)

            # The dataset list is empty here (the image's /app/data is not mounted), but
            # the dropdown takes a typed name, and saving does not check that it exists.
            type_into_multiselect(browser, "Dataset", DATASET_NAME)
            click_button(browser, "Save arguments")
            deadline = time.monotonic() + SAVE_TIMEOUT
            while not any(saved_arguments.glob("*.yaml")) and time.monotonic() < deadline:
                time.sleep(0.5)
            saved_files = sorted(saved_arguments.glob("*.yaml"))
            assert len(saved_files) == 1, f"expected one saved configuration in {saved_arguments}, found {saved_files}\n{run.probe_report()}"
            arguments = wait_for_yaml(saved_files[0], lambda content: "top.model_name" in content, run=run)

            select_option(browser, "Language", "zh")
            after_language = wait_for_yaml(user_config, lambda content: content.get("lang") == "zh", run=run)
            browser.wait_for_text("模型名称", timeout=SAVE_TIMEOUT)
        probes_after = {kind: run.probes[kind].failed for kind in PROBES}

    log = run.log_path.read_text(errors="replace")
    assert "Read-only file system" not in log, run.log_tail(80)
    assert probes_after == {kind: None for kind in PROBES}, run.probe_report()
    assert after_model["lang"] == "en"
    # The second save read the first one back from the volume and kept its model.
    assert after_language["last_model"] == MODEL_NAME
    assert arguments["top.model_name"] == MODEL_NAME
    assert arguments["train.dataset"] == [DATASET_NAME]
