"""A real server (uvicorn via `governance serve`) on a throwaway SQLite database with the demo seed, in
GOVERNANCE_ENV=dev, and Debian's Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.harness.ports import free_port
from tests.harness.process import REPO_ROOT, ServiceProcess

CHROMIUM = "/usr/bin/chromium"


def _run(env: dict[str, str], *args: str) -> None:
    import subprocess

    subprocess.run([str(REPO_ROOT / ".venv/bin/governance"), *args], env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="governance-web-"))
    port = free_port()
    env = {
        **os.environ,
        "GOVERNANCE_ENV": "dev",
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{tmp / 'governance.db'}",
        "GOVERNANCE_BASE_URL": f"http://127.0.0.1:{port}",
        "GOVERNANCE_SESSION_COOKIE_SECURE": "false",
        "GOVERNANCE_JOBS_INLINE": "true",
        "GOVERNANCE_LOG_LEVEL": "WARNING",
    }
    for key in ("GOVERNANCE_OIDC_ISSUER", "GOVERNANCE_SAML_IDP_METADATA_URL", "GOVERNANCE_TEST_BACKEND"):
        env.pop(key, None)
    _run(env, "db", "upgrade")
    _run(env, "demo", "seed")
    argv = [str(REPO_ROOT / ".venv/bin/governance"), "serve", "--port", str(port)]
    proc = ServiceProcess("governance-web", argv, log_path=tmp / "server.log", cwd=REPO_ROOT, env=env)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout=60, what="/healthz"
    )
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "scripts/ensure-system-deps.sh installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser: Browser, server: str) -> Iterator[object]:
    contexts = []

    def make() -> Page:
        ctx = browser.new_context(base_url=server, java_script_enabled=True)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    page.click(f"#sign-in-{username}")
    page.wait_for_selector("#who")
    assert page.inner_text("#username") == username
