"""Drive a headless Chromium over the DevTools protocol, with nothing but the standard library.

Chromium speaks the protocol over a pipe when started with
``--remote-debugging-pipe``: JSON messages, each ended by a NUL byte, read
from its file descriptor 3 and written to its descriptor 4. That is all the
browser tests, the screenshot script and the page benchmark need (open a
file, evaluate JavaScript, move the mouse, take a screenshot), so no browser
automation package is installed for them. The browser is Debian's
``chromium`` (``.ci/run`` installs it when missing).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""The names Chromium goes by on PATH, Debian's first."""


def find_chromium() -> str:
    """Return the path of the Chromium binary, or raise naming how to install it."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        "no chromium on PATH; install it with `apt-get install -y chromium` (.ci/run does)"
    )


class CdpError(RuntimeError):
    """The browser answered a command with an error, or a page script threw."""


class Chromium:
    """A headless Chromium with one page, driven over the DevTools pipe.

    Use as a context manager: the browser and its fresh profile directory are
    gone afterwards.
    """

    def __init__(self, width: int = 1280, height: int = 800, timeout: float = 30.0) -> None:
        self.width = width
        self.height = height
        self.timeout = timeout
        binary = find_chromium()
        self._profile = tempfile.mkdtemp(prefix="harn-trace-chromium-")
        self._log_path = Path(self._profile) / "chromium-stderr.log"
        self._log = self._log_path.open("wb")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # runs in the child, before exec
            # Move both ends above 4 first: either may already be fd 3 or 4.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # dup2 makes the copies inheritable
            os.dup2(high_w, 4)

        self._process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            close_fds=False,
            preexec_fn=wire_pipes,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._session = ""
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self._session = self.send(
                "Target.attachToTarget", targetId=page["targetId"], flatten=True
            )["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    # -- the protocol ------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, skipping events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session and not method.startswith("Target."):
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self._from_browser], [], [], max(remaining, 0))
            if not readable:
                raise TimeoutError(f"chromium did not answer within {self.timeout} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                self._log.flush()
                output = self._log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise CdpError(
                    "chromium closed the DevTools pipe; its last output:\n" + "\n".join(output)
                )
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        reply: dict[str, Any] = json.loads(raw)
        return reply

    # -- what the tests use --------------------------------------------------

    def open(self, path: Path, ready: str = "true") -> None:
        """Load a local file and wait until the JavaScript expression ``ready`` is true."""
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for(ready)

    def wait_for(self, expression: str) -> None:
        """Poll ``expression`` in the page until it is truthy."""
        deadline = time.monotonic() + self.timeout
        while not self.evaluate(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never made {expression!r} true")
            time.sleep(0.02)

    def evaluate(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (awaiting a promise) and return its JSON value."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"page script failed: {text}")
        return result["result"].get("value")

    def hover(self, x: float, y: float) -> None:
        """Move the mouse to page coordinates ``(x, y)``, as a user would."""
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def click(self, x: float, y: float) -> None:
        """Click the left button at page coordinates ``(x, y)``."""
        self.hover(x, y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport to ``path``."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Stop the browser and delete its profile."""
        try:
            if self._process.poll() is None:
                with contextlib.suppress(CdpError, OSError, TimeoutError):
                    self.send("Browser.close")
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        finally:
            for fd in (self._to_browser, self._from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
