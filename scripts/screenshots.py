"""`make screenshots`: regenerate docs/screenshots/ — each page as each member of the demo cast sees it.

Starts a dev server (GOVERNANCE_ENV=dev) on a throwaway SQLite database with the demo seed, signs in as
each demo user through /dev/sign-in (the session cookie a real login sets) in Debian's Chromium driven by
Playwright, and takes a full-page screenshot of each page that person can open. Pages that answer an
error (not yet built, or not that person's) are skipped, and listed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.ports import free_port  # noqa: E402
from tests.harness.process import ServiceProcess  # noqa: E402

SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
EVERYONE = ("/", "/projects", "/me")
RESEARCHER = (*EVERYONE, "/projects/new", "/projects/diabetes-outcomes", "/access-requests/new")
STEWARD = (
    *EVERYONE,
    "/queues/projects",
    "/queues/memberships",
    "/queues/access-requests",
    "/queues/accreditations",
    "/datasets",
    "/datasets/hospital-episodes",
    "/projects/school-attainment",
    "/simulate?username=bob&project=diabetes-outcomes&profile=standard&datasets=hospital-episodes",
    "/simulate?username=alice&project=diabetes-outcomes&profile=standard&datasets=hospital-episodes",
)
CAST = {
    "start": ((), ("/",)),  # signed out: the start page
    "alice": (("alice",), RESEARCHER),
    "bob": (("bob",), (*EVERYONE, "/projects/diabetes-outcomes")),
    "carol": (("carol",), EVERYONE),
    "sam": (("sam",), STEWARD),
    "stella": (("stella",), ("/", "/queues/projects")),
    "olivia": (("olivia",), EVERYONE),
    "aud": (("aud",), EVERYONE),
    "admin": (("admin",), EVERYONE),
}


def _name(who: str, path: str) -> str:
    if who == "start":
        return "start"
    slug = path.strip("/").split("?")[0].replace("/", "-") or "my-tasks"
    if "username=" in path:
        slug += "-" + ("refused" if "username=bob" in path else "allowed")
    return f"{who}-{slug}"


def _governance(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ROOT / ".venv/bin/governance"), *args], env=env, check=True, capture_output=True)


def _shoot(page: Page, path: str, target: Path) -> bool:
    response = page.goto(path)
    if response is None or response.status >= 400:
        return False
    page.screenshot(path=str(target), full_page=True)
    return True


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="governance-shots-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GOVERNANCE_ENV": "dev",
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{tmp / 'governance.db'}",
        "GOVERNANCE_BASE_URL": url,
        "GOVERNANCE_SESSION_COOKIE_SECURE": "false",
        "GOVERNANCE_JOBS_INLINE": "true",
        "GOVERNANCE_LOG_LEVEL": "WARNING",
    }
    for key in ("GOVERNANCE_OIDC_ISSUER", "GOVERNANCE_SAML_IDP_METADATA_URL"):
        env.pop(key, None)
    _governance(env, "db", "upgrade")
    _governance(env, "demo", "seed")
    argv = [str(ROOT / ".venv/bin/governance"), "serve", "--port", str(port)]
    proc = ServiceProcess("governance-shots", argv, log_path=tmp / "server.log", cwd=ROOT, env=env)
    proc.start()
    proc.wait_ready(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout=60, what="/healthz"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    taken, skipped = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for who, (users, paths) in CAST.items():
                context = browser.new_context(base_url=url, viewport={"width": 1200, "height": 800})
                page = context.new_page()
                for username in users:
                    page.goto("/")
                    page.click(f"#sign-in-{username}")
                    page.wait_for_selector("#who")
                for path in paths:
                    target = SHOTS / f"{_name(who, path)}.png"
                    (taken if _shoot(page, path, target) else skipped).append(f"{who} {path}")
                context.close()
            browser.close()
    finally:
        proc.stop()
    print(f"{len(taken)} screenshots in {SHOTS.relative_to(ROOT)}/")
    if skipped:
        print("skipped (the page answered an error):", *skipped, sep="\n  ")


if __name__ == "__main__":
    main()
