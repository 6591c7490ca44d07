"""The JupyterHub REST API, as the governance service account uses it to stop servers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


class HubError(Exception):
    pass


@dataclass
class HubClient:
    api_url: str
    token: str
    timeout: float = 10.0

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url.rstrip("/"),
            headers={"Authorization": f"token {self.token}"},
            timeout=self.timeout,
        )

    def running_servers(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(username, server name) → server model, for every server that is running or starting."""
        try:
            return self._running_servers()
        except httpx.HTTPError as exc:
            raise HubError(f"the hub could not be reached ({type(exc).__name__})") from exc

    def _running_servers(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        with self._client() as client:
            offset = 0
            while True:
                r = client.get(
                    "/users",
                    params={"state": "active", "offset": offset, "limit": 200},
                    headers={"Accept": "application/jupyterhub-pagination+json"},
                )
                if r.status_code != 200:
                    raise HubError(f"listing users failed with HTTP {r.status_code}")
                body = r.json()
                items = body["items"] if isinstance(body, dict) else body
                for user in items:
                    for name, server in (user.get("servers") or {}).items():
                        out[(user["name"], name)] = server
                next_page = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
                if not next_page:
                    return out
                offset = int(next_page["offset"])

    def stop_server(self, username: str, server_name: str = "") -> bool:
        """True when a server was asked to stop; False when there was none to stop."""
        path = f"/users/{quote(username, safe='')}/server"
        if server_name:
            path = f"/users/{quote(username, safe='')}/servers/{quote(server_name, safe='')}"
        try:
            with self._client() as client:
                r = client.delete(path)
        except httpx.HTTPError as exc:
            raise HubError(f"the hub could not be reached ({type(exc).__name__})") from exc
        if r.status_code in (202, 204):
            return True
        if r.status_code in (400, 404):  # not running / no such server
            return False
        raise HubError(f"stopping {username}/{server_name or '(default)'} failed with HTTP {r.status_code}")
