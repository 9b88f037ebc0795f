"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no extra library.

Chromium reads NUL-terminated JSON commands on fd 3 and writes answers and events on fd 4. That is
enough to load a page at a given viewport, measure it with JavaScript (the page itself has none:
its CSP allows no scripts, so the check bypasses CSP only for the measuring session) and take a
screenshot of exactly that viewport.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Browser:
    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed browser binary with our own arguments
            [chromium, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_browser_r, from_browser_w),  # 3 and 4: made by _fds in the child, kept open
            preexec_fn=_fds(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.session = ""

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def wait_for(self, event: str) -> dict[str, Any]:
        while True:
            message = self._read()
            if message.get("method") == event:
                params: dict[str, Any] = message.get("params", {})
                return params

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        found: dict[str, Any] = json.loads(raw)
        return found

    def open(self, url: str, width: int, height: int) -> None:
        """A new tab at `width` x `height` CSS pixels with `url` loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        self.send("Page.enable")
        self.send("Page.setBypassCSP", {"enabled": True})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.send("Browser.close", session=False)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=30)
        os.close(self._to_browser)
        os.close(self._from_browser)


def _fds(commands: int, answers: int) -> Any:
    def place() -> None:
        high_commands = fcntl.fcntl(commands, fcntl.F_DUPFD, 10)
        high_answers = fcntl.fcntl(answers, fcntl.F_DUPFD, 10)
        os.dup2(high_commands, 3)  # from copies, so neither dup2 overwrites the other's source
        os.dup2(high_answers, 4)

    return place
