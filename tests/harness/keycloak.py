"""A throwaway Keycloak (dev mode, H2) on a free loopback port that imports one realm file.

Each run gets its own Keycloak home in a temp dir: bin/kc.sh, conf/, lib/quarkus/ (the augmentation
output, which `start-dev` rewrites) and data/ are private copies; the 160 MB of jars in lib/lib,
providers/ and themes/ are symlinks to the unpacked distribution under .cache/keycloak/. So parallel
runs do not clash, and starting costs a few MB of copying.

`start-dev` re-augments a distribution built for production (about 7 s). The first run therefore
saves its dev-mode lib/quarkus/ under .cache/keycloak/ and later runs start from it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import struct
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .ports import free_port
from .process import CACHE_DIR, REPO_ROOT, ServiceProcess, ServiceStartError, track, untrack

KEYCLOAK_VERSION = os.environ.get("KEYCLOAK_VERSION", "26.5.6")
MIN_JAVA = 17
DEV_REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "realm.json"
# The OTP secret of "alice" in the dev realm (stored raw, as Keycloak keeps it; dev only).
ALICE_TOTP_SECRET = "alice-totp-dev-only-secret"


def totp_code(secret: str, at: float | None = None, *, period: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) of a secret stored raw in Keycloak (its UTF-8 bytes are the key)."""
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(secret.encode(), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{value:0{digits}d}"


def keycloak_dist(version: str = KEYCLOAK_VERSION) -> Path:
    dist = CACHE_DIR / "keycloak" / f"keycloak-{version}"
    if not (dist / "bin" / "kc.sh").is_file():
        raise ServiceStartError(
            f"Keycloak {version} is not unpacked in {dist}; run scripts/ensure-system-deps.sh"
        )
    return dist


def find_java_home(minimum: int = MIN_JAVA) -> Path:
    """The JDK under /usr/lib/jvm with the highest major version (at least `minimum`)."""
    best: tuple[int, Path] | None = None
    for release in sorted(Path("/usr/lib/jvm").glob("*/release")):
        home = release.parent
        match = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(errors="replace"), re.MULTILINE)
        if match is None or not (home / "bin" / "java").is_file():
            continue
        major = int(match.group(1))
        if major >= minimum and (best is None or major > best[0]):
            best = (major, home)
    if best is None:
        raise ServiceStartError(f"no JDK >= {minimum} under /usr/lib/jvm; run scripts/ensure-system-deps.sh")
    return best[1]


class KeycloakServer:
    """`kc.sh start-dev --import-realm` with one realm file, on 127.0.0.1 and free ports."""

    def __init__(
        self,
        realm_file: Path = DEV_REALM_FILE,
        *,
        version: str = KEYCLOAK_VERSION,
        admin_username: str = "admin",
        admin_password: str | None = None,
        heap: str = "-Xms128m -Xmx768m",
        jvm_options: str = "-XX:TieredStopAtLevel=1",
        extra_args: Sequence[str] = (),
        start_timeout: float = 240.0,
    ) -> None:
        self.realm_file = Path(realm_file)
        self.realm: str = json.loads(self.realm_file.read_text())["realm"]
        self.version = version
        self.admin_username = admin_username
        self.admin_password = admin_password or secrets.token_urlsafe(16)
        self.heap = heap
        # C1 only: measured 13-14 s to ready instead of 15-25 s on two shared cores; tests are short-lived.
        self.jvm_options = jvm_options
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self.dir: Path | None = None
        self._process: ServiceProcess | None = None
        self._token: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def log_path(self) -> Path | None:
        return self.dir / "keycloak.log" if self.dir is not None else None

    def start(self) -> KeycloakServer:
        began = time.monotonic()
        dist = keycloak_dist(self.version)
        java_home = find_java_home()
        self.dir = Path(tempfile.mkdtemp(prefix="harness-keycloak-"))
        self._token = track(self.stop)
        try:
            home = self._make_home(dist)
            self.port = free_port()
            management_port = free_port()
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("KC_", "KEYCLOAK_", "JAVA_OPTS")) and k != "JAVA"
            }
            env.update(
                JAVA_HOME=str(java_home),
                KC_BOOTSTRAP_ADMIN_USERNAME=self.admin_username,
                KC_BOOTSTRAP_ADMIN_PASSWORD=self.admin_password,
                JAVA_OPTS_KC_HEAP=self.heap,
                JAVA_OPTS_APPEND=self.jvm_options,
            )
            self._process = ServiceProcess(
                "keycloak",
                [
                    str(home / "bin" / "kc.sh"),
                    "start-dev",
                    "--http-host=127.0.0.1",
                    f"--http-port={self.port}",
                    f"--http-management-port={management_port}",
                    "--import-realm",
                    *self.extra_args,
                ],
                log_path=self.dir / "keycloak.log",
                cwd=self.dir,
                env=env,
            )
            self._process.start()
            discovery = f"{self.issuer}/.well-known/openid-configuration"
            self._process.wait_ready(
                lambda: httpx.get(discovery, timeout=2).status_code == 200,
                timeout=self.start_timeout,
                what=f"GET {discovery}",
            )
            self._save_dev_build(home)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _dev_build_cache(self) -> Path:
        key = hashlib.sha256("\0".join(self.extra_args).encode()).hexdigest()[:12]
        return CACHE_DIR / "keycloak" / f"dev-build-{self.version}-{key}"

    def _make_home(self, dist: Path) -> Path:
        assert self.dir is not None
        home = self.dir / "home"
        (home / "bin").mkdir(parents=True)
        shutil.copy2(dist / "bin" / "kc.sh", home / "bin" / "kc.sh")
        shutil.copytree(dist / "conf", home / "conf")
        (home / "lib").mkdir()
        shutil.copytree(dist / "lib" / "app", home / "lib" / "app")
        shutil.copy2(dist / "lib" / "quarkus-run.jar", home / "lib" / "quarkus-run.jar")
        dev_build = self._dev_build_cache()
        shutil.copytree(
            dev_build if dev_build.is_dir() else dist / "lib" / "quarkus", home / "lib" / "quarkus"
        )
        for shared in ("lib/lib", "providers", "themes"):
            (home / shared).symlink_to(dist / shared, target_is_directory=True)
        (home / "data" / "import").mkdir(parents=True)
        shutil.copy2(self.realm_file, home / "data" / "import" / f"{self.realm}-realm.json")
        return home

    def _save_dev_build(self, home: Path) -> None:
        target = self._dev_build_cache()
        if target.exists():
            return
        staging = Path(tempfile.mkdtemp(prefix=".dev-build-", dir=target.parent))
        try:
            shutil.copytree(home / "lib" / "quarkus", staging / "quarkus")
            os.rename(staging / "quarkus", target)  # atomic; another run may have won the race
        except OSError:
            pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def log_tail(self, lines: int = 50) -> str:
        return self._process.log_tail(lines) if self._process is not None else ""

    def stop(self) -> None:
        """Stop the java process tree and remove the per-run home; does nothing when already stopped."""
        untrack(self._token)
        self._token = None
        if self._process is not None:
            self._process.stop(grace=20.0)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # Tokens -------------------------------------------------------------------------------------

    def admin_token(self) -> str:
        """An access token of the bootstrap admin (master realm, admin-cli) for the Admin REST API."""
        return str(
            _token_request(
                f"{self.base_url}/realms/master/protocol/openid-connect/token",
                {
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self.admin_username,
                    "password": self.admin_password,
                },
            )["access_token"]
        )

    def password_token(
        self,
        client_id: str,
        username: str,
        password: str,
        *,
        client_secret: str | None = None,
        totp: str | None = None,
        scope: str = "openid",
    ) -> dict[str, Any]:
        """The token response of a resource-owner password grant in the imported realm."""
        form = {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password,
            "scope": scope,
        }
        if client_secret is not None:
            form["client_secret"] = client_secret
        if totp is not None:
            form["totp"] = totp
        return _token_request(self.token_url, form)

    def client_credentials_token(self, client_id: str, client_secret: str) -> dict[str, Any]:
        return _token_request(
            self.token_url,
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )

    def __enter__(self) -> KeycloakServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _token_request(url: str, form: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(url, data=form, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"token request to {url} failed: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body
