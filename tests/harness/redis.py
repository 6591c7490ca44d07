"""A throwaway Redis server on a free loopback port, without persistence, in a temp dir."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis as redis_client

from .ports import free_port
from .process import ServiceProcess, ServiceStartError, track, untrack


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        raise ServiceStartError("redis-server not found; run scripts/ensure-system-deps.sh")
    return found


class RedisServer:
    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self.dir: Path | None = None
        self._process: ServiceProcess | None = None
        self._token: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        began = time.monotonic()
        binary = redis_server_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="harness-redis-"))
        self._token = track(self.stop)
        try:
            self.port = free_port()
            self._process = ServiceProcess(
                "redis-server",
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "yes",
                ],
                log_path=self.dir / "redis.log",
                cwd=self.dir,
            )
            self._process.start()
            self._process.wait_ready(self._pings, timeout=self.start_timeout, what="PING")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _pings(self) -> bool:
        client = redis_client.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server and remove its directory; does nothing when already stopped."""
        untrack(self._token)
        self._token = None
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
