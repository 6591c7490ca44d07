"""Headless Chromium, one short-lived browser per call: dump a page's DOM or take a screenshot."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .process import Completed, ServiceStartError, run_bounded

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
