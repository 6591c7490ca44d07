"""Support for the tests that run against a real Keycloak: a browser-like HTTP client, the service on a
real port (uvicorn in a thread), Keycloak's login form, and the Keycloak Admin REST API."""

from __future__ import annotations

import http.cookiejar
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import uvicorn

from governance.app import create_app
from governance.config import get_settings
from tests.harness.keycloak import KeycloakServer
from tests.harness.ports import free_port

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Like browsers: http://127.0.0.1 and localhost are secure contexts, so Secure cookies are sent there."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        if cookie.secure and request.type != "https":
            return urlsplit(request.get_full_url()).hostname in LOOPBACK
        return True


class CookieTransport(httpx.HTTPTransport):
    """Keeps cookies the way a browser would (httpx's own jar drops Secure cookies over http)."""

    def __init__(self) -> None:
        super().__init__()
        self.jar = http.cookiejar.CookieJar(policy=_LoopbackIsSecure())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        compat = httpx._models.Cookies._CookieCompatRequest(request)
        self.jar.add_cookie_header(compat)
        response = super().handle_request(request)
        self.jar.extract_cookies(httpx._models.Cookies._CookieCompatResponse(response), compat)  # type: ignore[arg-type]
        return response


def browser() -> tuple[httpx.Client, CookieTransport]:
    transport = CookieTransport()
    return httpx.Client(transport=transport, timeout=30.0), transport


def cookie_value(transport: CookieTransport, name: str) -> str | None:
    return next((c.value for c in transport.jar if c.name == name), None)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")


def first_form(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """(absolute action URL, input name -> value) of the page's first form."""
    parser = _Forms()
    parser.feed(response.text)
    assert parser.forms, f"no form on {response.url}: {response.text[:500]}"
    action, fields = parser.forms[0]
    return urljoin(str(response.url), action), fields


def keycloak_login(
    client: httpx.Client, login_page: httpx.Response, username: str, password: str
) -> httpx.Response:
    """Fill in and post Keycloak's username/password form (not following the redirect it answers with)."""
    assert login_page.status_code == 200, login_page.text[:500]
    action, fields = first_form(login_page)
    fields.update(username=username, password=password)
    return client.post(action, data=fields)


def follow(client: httpx.Client, response: httpx.Response, *, until: str | None = None) -> httpx.Response:
    """Follow redirects one by one (stopping before a URL starting with `until`); return the last response."""
    for _ in range(20):
        if not response.is_redirect:
            return response
        target = urljoin(str(response.url), response.headers["location"])
        if until is not None and target.startswith(until):
            return response
        response = client.get(target)
    raise AssertionError("too many redirects")


# The service on a real port ----------------------------------------------------------------------


class AppServer:
    """The governance app under uvicorn in a thread, configured from the current environment."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the governance app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def service_env(keycloak: KeycloakServer, port: int, **extra: str) -> dict[str, str]:
    return {
        "GOVERNANCE_BASE_URL": f"http://127.0.0.1:{port}",
        "GOVERNANCE_SECRET_KEY": secrets.token_urlsafe(32),
        "GOVERNANCE_OIDC_ISSUER": keycloak.issuer,
        "GOVERNANCE_OIDC_WEB_CLIENT_SECRET": "governance-web-secret",
        "GOVERNANCE_KEYCLOAK_URL": keycloak.base_url,
        "GOVERNANCE_KEYCLOAK_REALM": keycloak.realm,
        "GOVERNANCE_KEYCLOAK_SYNC_CLIENT_SECRET": "governance-sync-secret",
        **extra,
    }


@contextmanager
def running_service(env: dict[str, str], port: int) -> Iterator[AppServer]:
    """Set `env` (on top of the test's database settings), start the app, stop it and restore afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    server = AppServer(port).start()
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def new_port() -> int:
    return free_port()


def link_demo_cast(admin: KeycloakAdminApi) -> None:
    """Link the seeded cast to the realm's users by issuer + subject, as an administrator does.

    A login never claims a pre-created account by its username (identity/provisioning.py): the seeded
    alice, sam, … are reached through the realm only once linked (or invited, see invite_demo_cast).
    """
    from sqlalchemy import select

    from governance.core.db import transaction
    from governance.demo.seed import CAST
    from governance.models import User

    with transaction() as s:
        for username, _name, role in CAST:
            if role == "hub":
                continue
            user = s.scalar(select(User).where(User.username == username))
            assert user is not None, username
            user.issuer, user.subject = admin.keycloak.issuer, admin.user_id(username)


# Keycloak's Admin REST API -----------------------------------------------------------------------


class KeycloakAdminApi:
    """The bootstrap admin's view of the imported realm (tokens refreshed before they lapse)."""

    def __init__(self, keycloak: KeycloakServer) -> None:
        self.keycloak = keycloak
        self.base = f"{keycloak.base_url}/admin/realms/{keycloak.realm}"
        self._token = ""
        self._token_at = 0.0
        self.http = httpx.Client(timeout=30.0)

    def _headers(self) -> dict[str, str]:
        if time.monotonic() - self._token_at > 30:
            self._token = self.keycloak.admin_token()
            self._token_at = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, *, base: str | None = None, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, f"{base or self.base}{path}", headers=self._headers(), **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response

    def user_id(self, username: str) -> str:
        found = self.call("GET", "/users", params={"username": username, "exact": "true"}).json()
        assert found, f"no Keycloak user {username}"
        return str(found[0]["id"])

    def group_id(self, path: str) -> str:
        return str(self.call("GET", f"/group-by-path/{path.lstrip('/')}").json()["id"])

    def create_user(self, username: str, password: str, groups: list[str] | None = None, **extra: Any) -> str:
        body = {
            "username": username,
            "enabled": True,
            "email": f"{username}@example.org",
            "emailVerified": True,
            "firstName": username.title(),
            "lastName": "Tester",
            "credentials": [{"type": "password", "value": password, "temporary": False}],
            "groups": groups or [],
            **extra,
        }
        self.call("POST", "/users", json=body)
        return self.user_id(username)

    def delete_user(self, username: str) -> None:
        self.call("DELETE", f"/users/{self.user_id(username)}")

    def create_group(self, name: str) -> str:
        self.call("POST", "/groups", json={"name": name})
        return self.group_id(f"/{name}")

    def add_to_group(self, username: str, path: str) -> None:
        self.call("PUT", f"/users/{self.user_id(username)}/groups/{self.group_id(path)}")

    def remove_from_group(self, username: str, path: str) -> None:
        self.call("DELETE", f"/users/{self.user_id(username)}/groups/{self.group_id(path)}")

    def realm_role(self, name: str) -> dict[str, Any]:
        role: dict[str, Any] = self.call("GET", f"/roles/{name}").json()
        return role

    def grant_realm_role(self, username: str, role: str) -> None:
        self.call(
            "POST", f"/users/{self.user_id(username)}/role-mappings/realm", json=[self.realm_role(role)]
        )

    def revoke_realm_role(self, username: str, role: str) -> None:
        self.call(
            "DELETE", f"/users/{self.user_id(username)}/role-mappings/realm", json=[self.realm_role(role)]
        )

    def create_client(self, body: dict[str, Any]) -> str:
        self.call("POST", "/clients", json=body)
        found = self.call("GET", "/clients", params={"clientId": body["clientId"]}).json()
        return str(found[0]["id"])

    def client(self, client_id: str) -> dict[str, Any]:
        found = self.call("GET", "/clients", params={"clientId": client_id}).json()
        assert found, f"no Keycloak client {client_id}"
        body: dict[str, Any] = self.call("GET", f"/clients/{found[0]['id']}").json()
        return body

    def delete_client(self, client_id: str) -> None:
        self.call("DELETE", f"/clients/{self.client(client_id)['id']}")

    def add_rsa_key(self, name: str, priority: int) -> str:
        realm_id = self.call("GET", "").json()["id"]
        response = self.call(
            "POST",
            "/components",
            json={
                "name": name,
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {
                    "priority": [str(priority)],
                    "keySize": ["2048"],
                    "active": ["true"],
                    "enabled": ["true"],
                    "algorithm": ["RS256"],
                },
            },
        )
        return response.headers["location"].rsplit("/", 1)[-1]

    def active_kid(self, algorithm: str = "RS256") -> str:
        return str(self.call("GET", "/keys").json()["active"][algorithm])
