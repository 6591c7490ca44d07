"""A throwaway JupyterHub (with configurable-http-proxy from .cache/npm) on free loopback ports.

The caller's config file is loaded by a small wrapper config in the temp dir, which then pins what
the harness owns: the public, hub and proxy-API addresses, the proxy command, the database, the
cookie secret and pid files. Everything else (authenticator, spawner, services, roles, hooks) comes
from the caller's file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from .ports import free_port
from .process import CACHE_DIR, REPO_ROOT, ServiceProcess, ServiceStartError, track, untrack

CHP = CACHE_DIR / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"


def jupyterhub_binary() -> Path:
    for candidate in (Path(sys.executable).parent / "jupyterhub", REPO_ROOT / ".venv" / "bin" / "jupyterhub"):
        if candidate.is_file():
            return candidate
    raise ServiceStartError("jupyterhub not found next to the Python running the tests nor in .venv/bin")


class JupyterHubServer:
    """`jupyterhub -f <wrapper config>` in a temp dir; ready when GET /hub/api/ answers through the proxy."""

    def __init__(
        self, config_file: Path, env: Mapping[str, str] | None = None, *, start_timeout: float = 90.0
    ) -> None:
        self.config_file = Path(config_file).resolve()
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.port = 0
        self.hub_port = 0
        self.proxy_api_port = 0
        self.startup_seconds = 0.0
        self.dir: Path | None = None
        self._process: ServiceProcess | None = None
        self._token: int | None = None

    @property
    def url(self) -> str:
        """The public URL (through the proxy), without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    @property
    def hub_url(self) -> str:
        """The hub's own address (behind the proxy), as services and single-user servers see it."""
        return f"http://127.0.0.1:{self.hub_port}"

    def start(self) -> JupyterHubServer:
        began = time.monotonic()
        if not CHP.is_file():
            raise ServiceStartError(f"{CHP} is missing; run scripts/ensure-system-deps.sh")
        binary = jupyterhub_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="harness-jupyterhub-"))
        self._token = track(self.stop)
        try:
            self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
            wrapper = self.dir / "harness_jupyterhub_config.py"
            wrapper.write_text(self._wrapper_config())
            env = dict(os.environ)
            env.setdefault("CONFIGPROXY_AUTH_TOKEN", secrets.token_hex(32))
            env.update(self.env)
            self._process = ServiceProcess(
                "jupyterhub",
                [str(binary), "-f", str(wrapper)],
                log_path=self.dir / "jupyterhub.log",
                cwd=self.dir,
                env=env,
            )
            self._process.start()
            self._process.wait_ready(
                lambda: httpx.get(f"{self.api_url}/", timeout=2).status_code == 200,
                timeout=self.start_timeout,
                what=f"GET {self.api_url}/",
            )
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wrapper_config(self) -> str:
        assert self.dir is not None
        lines = [
            "# Written by tests/harness/jupyterhub_proc.py for one test run.",
            "c = get_config()  # noqa: F821",
            f"load_subconfig({str(self.config_file)!r})  # noqa: F821",
            f"c.JupyterHub.bind_url = {self.url + '/'!r}",
            f"c.JupyterHub.hub_bind_url = {self.hub_url + '/'!r}",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.proxy_api_port}'",
            f"c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]",
            f"c.ConfigurableHTTPProxy.pid_file = {str(self.dir / 'proxy.pid')!r}",
            f"c.JupyterHub.pid_file = {str(self.dir / 'jupyterhub.pid')!r}",
            f"c.JupyterHub.db_url = {'sqlite:///' + str(self.dir / 'jupyterhub.sqlite')!r}",
            f"c.JupyterHub.cookie_secret_file = {str(self.dir / 'jupyterhub_cookie_secret')!r}",
        ]
        return "\n".join(lines) + "\n"

    def log_tail(self, lines: int = 50) -> str:
        return self._process.log_tail(lines) if self._process is not None else ""

    def stop(self) -> None:
        """SIGTERM the hub (it stops its servers and the proxy), then kill whatever is left; rm -r."""
        untrack(self._token)
        self._token = None
        if self._process is not None:
            self._process.stop(grace=20.0)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> JupyterHubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
