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

    Raises ``HarnessError`` with the page text when it never appears.
    """
    with Browser(run, profile) as browser:
        browser.navigate(url)
        browser.wait_for_text(expected_text, timeout=timeout)
        # Let the rest of the load event's updates render before the screenshot.
        time.sleep(2)
        text = str(browser.evaluate("document.body.innerText"))
        html = str(browser.evaluate("document.documentElement.outerHTML"))
        png = browser.screenshot()
        return PageCapture(text, html, png, time.monotonic() - browser.started)


class Browser:
    """One page of headless Chromium inside the pod's network namespace, driven over DevTools.

    Use it as a context manager. Chromium runs in a process group of its own, with a
    fresh profile and ``HOME`` in ``profile``, and its whole group is killed on exit.
    Clicks and keys are DevTools ``Input`` events, which the page receives as trusted user input.
    """

    def __init__(self, run: PodRun, profile: Path) -> None:
        self.run = run
        self.profile = profile
        self.started = 0.0
        self.url = "about:blank"
        self._process: subprocess.Popen[bytes] | None = None
        self._devtools: DevToolsPipe | None = None
        self._session: str | None = None
        self._pipe_ends: list[int] = []

    def __enter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        command_read, command_write = os.pipe()
        response_read, response_write = os.pipe()
        # Chromium reads commands from fd 3 and writes replies to fd 4.
        high_command = fcntl_dup(command_read)
        high_response = fcntl_dup(response_write)

        def map_pipes() -> None:
            os.dup2(high_command, 3)
            os.dup2(high_response, 4)

        argv = self.run.in_namespace(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={self.profile / 'chromium'}", "--remote-debugging-pipe", "about:blank"]
        )
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.profile / "chromium.log").open("wb"),
            env={"PATH": os.environ.get("PATH", IMAGE_PATH), "HOME": str(self.profile)},
            # subprocess would close fds 3 and 4 after preexec_fn runs. Python opens every
            # other descriptor non-inheritable, so nothing else leaks into Chromium.
            close_fds=False,
            preexec_fn=map_pipes,
            start_new_session=True,
        )
        for descriptor in (command_read, response_write, high_command, high_response):
            os.close(descriptor)
        self._pipe_ends = [command_write, response_read]
        self.started = time.monotonic()
        try:
            self._devtools = DevToolsPipe(command_write, response_read)
            target = self._devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.call("Page.enable")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for descriptor in self._pipe_ends:
            os.close(descriptor)
        self._pipe_ends = []
        if self._process is not None:
            signal_group(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
            self._process = None

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30) -> Any:
        """Send one DevTools command to the page and return its result."""
        if self._devtools is None:
            raise HarnessError("Chromium is not running")
        return self._devtools.call(method, params, session=self._session, timeout=timeout)

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})
        self.url = url

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page and return its value as JSON data."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise HarnessError(f"JavaScript failed: {result['exceptionDetails'].get('text')} in {expression[:200]}")
        return result.get("result", {}).get("value")

    def wait_for_text(self, expected_text: str, *, timeout: float) -> str:
        """Poll the page text every second until it contains ``expected_text``, and return the text.

        LLaMA Board fills in its labels only after its load event has made a round trip
        through the server's queue, so the text is polled in real time. Raises
        ``HarnessError`` with the page text when it never appears.
        """
        text = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = str(self.evaluate("document.body ? document.body.innerText : ''"))
            if expected_text in text:
                return text
            time.sleep(1)
        raise HarnessError(f"{expected_text!r} did not appear at {self.url} within {timeout}s; the page shows:\n{text[:2000]}")

    def click(self, selector: str) -> None:
        """Scroll the first element that matches the CSS ``selector`` into view and left-click its centre.

        Raises ``HarnessError`` when no element matches or the element has no size.
        """
        box = self.evaluate(
            f"""(() => {{
                const element = document.querySelector({json.dumps(selector)});
                if (!element) return null;
                element.scrollIntoView({{block: "center"}});
                const box = element.getBoundingClientRect();
                return {{x: box.x + box.width / 2, y: box.y + box.height / 2, width: box.width, height: box.height}};
            }})()"""
        )
        if box is None:
            raise HarnessError(f"no element matches {selector!r}")
        if not box["width"] or not box["height"]:
            raise HarnessError(f"the element {selector!r} is not visible: {box}")
        for event in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": event, "x": box["x"], "y": box["y"], "button": "left" if event != "mouseMoved" else "none", "clickCount": 1},
            )

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element, one key event per character."""
        for character in text:
            self.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": character})
            self.call("Input.dispatchKeyEvent", {"type": "keyUp"})

    def press_enter(self) -> None:
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        self.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **key})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **key})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])


def fcntl_dup(descriptor: int) -> int:
    """Duplicate ``descriptor`` to a number of 10 or more, so mapping it to 3 or 4 clobbers nothing."""
    return fcntl.fcntl(descriptor, fcntl.F_DUPFD, 10)
