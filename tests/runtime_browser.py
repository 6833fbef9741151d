"""Load a page in headless Chromium inside a pod's network namespace and capture it.

Chromium is Debian's package, driven over its DevTools protocol through
``--remote-debugging-pipe``, so no debugging port is opened.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime_harness import IMAGE_PATH, HarnessError, PodRun, signal_group


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
"""Headless Chromium without a GPU, without a sandbox (it runs as root), and without
any connection of its own to update or sync services."""


@dataclass
class PageCapture:
    """What Chromium saw: the page text once the expected text appeared, the DOM and a PNG."""

    text: str
    html: str
    png: bytes
    seconds: float


class DevToolsPipe:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe``: JSON messages ended by NUL."""

    def __init__(self, commands: int, responses: int) -> None:
        self._commands = commands
        self._responses = responses
        self._buffer = b""
        self._next_id = 0

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, session: str | None = None, timeout: float = 30) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": dict(params or {})}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") != self._next_id:
                continue  # an event, or a late reply
            if "error" in reply:
                raise HarnessError(f"DevTools {method} failed: {reply['error']}")
            return reply.get("result", {})

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._responses], [], [], max(remaining, 0))
            if not ready:
                raise HarnessError("Chromium timed out: no DevTools reply")
            chunk = os.read(self._responses, 1 << 20)
            if not chunk:
                raise HarnessError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def capture_page(
    run: PodRun, url: str, *, expected_text: str, profile: Path, timeout: float = 120
) -> PageCapture:
    """Open ``url`` in headless Chromium inside the pod's network namespace and wait for ``expected_text``.

    Chromium runs in a process group of its own, with a fresh profile and ``HOME`` in
    ``profile``; its whole group is killed afterwards. The page text is polled in real
    time, because LLaMA Board fills in its labels only after its load event has made
    a round trip through the server's queue. Raises ``HarnessError`` with the page
    text when it never appears.
    """
    profile.mkdir(parents=True, exist_ok=True)
    command_read, command_write = os.pipe()
    response_read, response_write = os.pipe()
    # Chromium reads commands from fd 3 and writes replies to fd 4.
    high_command = fcntl_dup(command_read)
    high_response = fcntl_dup(response_write)

    def map_pipes() -> None:
        os.dup2(high_command, 3)
        os.dup2(high_response, 4)

    argv = run.in_namespace(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile / 'chromium'}", "--remote-debugging-pipe", "about:blank"]
    )
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(profile / "chromium.log").open("wb"),
        env={"PATH": os.environ.get("PATH", IMAGE_PATH), "HOME": str(profile)},
        # subprocess would close fds 3 and 4 after preexec_fn runs. Python opens every
        # other descriptor non-inheritable, so nothing else leaks into Chromium.
        close_fds=False,
        preexec_fn=map_pipes,
        start_new_session=True,
    )
    for descriptor in (command_read, response_write, high_command, high_response):
        os.close(descriptor)
    started = time.monotonic()
    try:
        devtools = DevToolsPipe(command_write, response_read)
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        devtools.call("Page.enable", session=session)
        devtools.call("Page.navigate", {"url": url}, session=session)

        text = ""
        deadline = started + timeout
        while time.monotonic() < deadline:
            text = _evaluate(devtools, session, "document.body ? document.body.innerText : ''")
            if expected_text in text:
                break
            time.sleep(1)
        else:
            raise HarnessError(f"{expected_text!r} did not appear at {url} within {timeout}s; the page shows:\n{text[:2000]}")
        # Let the rest of the load event's updates render before the screenshot.
        time.sleep(2)
        text = _evaluate(devtools, session, "document.body.innerText")
        html = _evaluate(devtools, session, "document.documentElement.outerHTML")
        png = base64.b64decode(devtools.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
        return PageCapture(text, html, png, time.monotonic() - started)
    finally:
        os.close(command_write)
        os.close(response_read)
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _evaluate(devtools: DevToolsPipe, session: str, expression: str) -> str:
    result = devtools.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
    return str(result.get("result", {}).get("value", ""))


def fcntl_dup(descriptor: int) -> int:
    """Duplicate ``descriptor`` to a number of 10 or more, so mapping it to 3 or 4 clobbers nothing."""
    return fcntl.fcntl(descriptor, fcntl.F_DUPFD, 10)
