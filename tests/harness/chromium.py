"""Headless Chromium: one short-lived browser per call (dump a page's DOM, take a screenshot), or a
browser driven over the DevTools protocol for multi-step flows (DevToolsBrowser)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect as ws_connect

from .ports import free_port
from .process import Completed, ServiceProcess, ServiceStartError, run_bounded

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # needed as root; the harness only loads local test pages
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium_binary() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServiceStartError("chromium not found; run scripts/ensure-system-deps.sh")


def _run(args: Sequence[str], timeout: float) -> Completed:
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile:
        argv = [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        done = run_bounded(argv, timeout=timeout, cwd=Path(profile))
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with code {done.returncode}:\n{done.stderr[-4000:]}")
    return done


def dump_dom(
    url: str,
    *,
    timeout: float = 60.0,
    virtual_time_budget_ms: int | None = None,
    extra_args: Sequence[str] = (),
) -> str:
    """The serialized DOM of `url` after load (and after `virtual_time_budget_ms` of page time, if given)."""
    budget = [f"--virtual-time-budget={virtual_time_budget_ms}"] if virtual_time_budget_ms else []
    return _run([*budget, *extra_args, "--dump-dom", url], timeout).stdout


def screenshot(
    url: str,
    out_png: Path,
    *,
    width: int = 1280,
    height: int = 800,
    timeout: float = 60.0,
    virtual_time_budget_ms: int | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Save a PNG of `url` rendered in a width x height window; returns the file's path."""
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)
    budget = [f"--virtual-time-budget={virtual_time_budget_ms}"] if virtual_time_budget_ms else []
    done = _run(
        [*budget, *extra_args, f"--window-size={width},{height}", f"--screenshot={out_png}", url], timeout
    )
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {out_png}:\n{done.stderr[-4000:]}")
    return out_png


class DevToolsBrowser:
    """A headless Chromium driven over the DevTools protocol: navigate, run script, wait, screenshot.

    For flows a one-shot `--dump-dom` cannot do, such as filling in a login form. One page (target),
    its cookies kept for the browser's lifetime; `stop()` (or leaving the `with` block) ends it.
    """

    def __init__(self, *, width: int = 1280, height: int = 800, start_timeout: float = 30.0) -> None:
        self.width, self.height = width, height
        self.start_timeout = start_timeout
        self._dir: Path | None = None
        self._process: ServiceProcess | None = None
        self._ws: Any = None
        self._ids = itertools.count(1)

    def start(self) -> DevToolsBrowser:
        self._dir = Path(tempfile.mkdtemp(prefix="harness-chromium-cdp-"))
        port = free_port()
        self._process = ServiceProcess(
            "chromium",
            [
                chromium_binary(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._dir / 'profile'}",
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            log_path=self._dir / "chromium.log",
            cwd=self._dir,
        )
        self._process.start()
        base = f"http://127.0.0.1:{port}"
        try:
            self._process.wait_ready(
                lambda: httpx.get(f"{base}/json/version", timeout=2).status_code == 200,
                timeout=self.start_timeout,
                what=f"GET {base}/json/version",
            )
            pages = [t for t in httpx.get(f"{base}/json/list", timeout=5).json() if t.get("type") == "page"]
            target = pages[0] if pages else httpx.put(f"{base}/json/new?about:blank", timeout=5).json()
            self._ws = ws_connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(  # the viewport itself, not the window with its (headless) browser chrome
                "Emulation.setDeviceMetricsOverride",
                {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.stop()
            raise
        return self

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """One DevTools command; its result (events arriving meanwhile are dropped)."""
        assert self._ws is not None, "browser not started"
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            raw = self._ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            message = json.loads(raw)
            if message.get("id") != message_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method} failed: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def wait_for(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Poll a script expression until it is truthy (a navigation in flight counts as not yet)."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
                if value:
                    return value
            except RuntimeError as exc:  # the page went away under us while navigating
                last_error = str(exc)
            time.sleep(0.1)
        url = self.evaluate("location.href")
        raise TimeoutError(f"{expression!r} did not become true within {timeout:.0f} s at {url} {last_error}")

    def screenshot(self, out_png: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        out_png = Path(out_png).resolve()
        out_png.parent.mkdir(parents=True, exist_ok=True)
        out_png.write_bytes(base64.b64decode(data))
        return out_png

    def stop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
        if self._process is not None:
            self._process.stop(grace=5.0)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> DevToolsBrowser:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
