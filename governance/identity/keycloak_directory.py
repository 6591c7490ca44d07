"""Read a Keycloak realm's users, groups, group members and realm-role members: a snapshot for the sync.

python-keycloak's KeycloakAdmin, authenticated as the governance-sync service account (client
credentials; realm-management roles view-users, query-users, query-groups, view-realm). Every list is
paged explicitly (`first`/`max`, brief representations), so each call below is one HTTP request and the
count is exact: users / page + groups / page (+ children) + one or more pages per group + role pages.
Nothing is written anywhere while fetching: a Keycloak that fails half-way leaves no trace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from keycloak import KeycloakAdmin
from keycloak.exceptions import (
    KeycloakAuthenticationError,
    KeycloakConnectionError,
    KeycloakError,
    KeycloakGetError,
    raise_error_from_response,
)

from governance.config import Settings
from governance.identity.sync_errors import KeycloakSyncError, KeycloakUnreachable

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class KeycloakUser:
    id: str
    username: str
    email: str | None
    display_name: str
    enabled: bool


@dataclass(frozen=True)
class KeycloakGroup:
    id: str
    name: str
    path: str


@dataclass
class DirectorySnapshot:
    issuer: str
    users: dict[str, KeycloakUser] = field(default_factory=dict)
    groups: dict[str, KeycloakGroup] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)  # group id -> user ids
    role_members: dict[str, set[str]] = field(default_factory=dict)  # realm role -> user ids (direct)
    missing_roles: list[str] = field(default_factory=list)
    api_calls: int = 0


def _user(rep: dict[str, Any]) -> KeycloakUser:
    name = " ".join(str(rep[k]) for k in ("firstName", "lastName") if rep.get(k))
    return KeycloakUser(
        id=str(rep["id"]),
        username=str(rep.get("username") or rep["id"]),
        email=str(rep["email"]) if rep.get("email") else None,
        display_name=name,
        enabled=bool(rep.get("enabled", True)),
    )


class KeycloakDirectory:
    def __init__(self, settings: Settings, *, workers: int = 4) -> None:
        if not settings.keycloak_url:
            raise KeycloakSyncError("directory sync is not configured: set GOVERNANCE_KEYCLOAK_URL")
        if not settings.keycloak_sync_client_secret:
            raise KeycloakSyncError(
                "set GOVERNANCE_KEYCLOAK_SYNC_CLIENT_SECRET (the governance-sync client's secret)"
            )
        issuer = settings.keycloak_realm_issuer
        assert issuer is not None
        self.issuer = issuer
        self.url = settings.keycloak_url.rstrip("/")
        self.realm = settings.keycloak_realm
        self.page_size = settings.keycloak_sync_page_size
        self.workers = max(1, workers)
        self.admin = KeycloakAdmin(
            server_url=f"{self.url}/",
            realm_name=self.realm,
            client_id=settings.keycloak_sync_client_id,
            client_secret_key=settings.keycloak_sync_client_secret,
            timeout=int(max(1, settings.keycloak_timeout_seconds)),
            pool_maxsize=self.workers + 2,
        )
        self.calls = 0
        self._lock = threading.Lock()

    # One HTTP request per call ------------------------------------------------------------------

    def _translate(self, exc: Exception) -> KeycloakSyncError:
        where = f"Keycloak at {self.url} (realm {self.realm})"
        if isinstance(exc, KeycloakConnectionError):
            return KeycloakUnreachable(f"{where} could not be reached ({exc}); nothing was changed")
        if isinstance(exc, KeycloakAuthenticationError):
            return KeycloakSyncError(
                f"{where} refused the sync client's credentials; "
                "check GOVERNANCE_KEYCLOAK_SYNC_CLIENT_ID and GOVERNANCE_KEYCLOAK_SYNC_CLIENT_SECRET"
            )
        code = getattr(exc, "response_code", None)
        if code == 403:
            return KeycloakSyncError(
                f"{where} refused the sync service account: it needs the realm-management roles "
                "view-users, query-users, query-groups and view-realm"
            )
        if isinstance(code, int) and code >= 500:
            return KeycloakUnreachable(f"{where} answered {code}; nothing was changed")
        return KeycloakSyncError(
            f"{where} answered with an error ({type(exc).__name__}: {exc}); nothing was changed"
        )

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def login(self) -> None:
        self._count()
        try:
            self.admin.connection.get_token()
        except KeycloakError as exc:
            raise self._translate(exc)

    def _page(self, path: str, first: int, *, missing_ok: bool = False) -> list[dict[str, Any]] | None:
        self._count()
        params = {"first": first, "max": self.page_size, "briefRepresentation": "true"}
        try:
            response = self.admin.connection.raw_get(f"admin/realms/{quote(self.realm)}/{path}", **params)
            if missing_ok and response.status_code == 404:
                return None
            body = raise_error_from_response(response, KeycloakGetError)
        except KeycloakError as exc:
            raise self._translate(exc)
        if not isinstance(body, list):
            raise KeycloakSyncError(f"Keycloak answered {path} with something other than a list")
        return body

    def _all(self, path: str, *, missing_ok: bool = False) -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = []
        first = 0
        while True:
            page = self._page(path, first, missing_ok=missing_ok)
            if page is None:
                return None
            items.extend(page)
            if len(page) < self.page_size:
                return items
            first += self.page_size

    # The snapshot -------------------------------------------------------------------------------

    def snapshot(self, realm_roles: list[str], progress: Progress | None = None) -> DirectorySnapshot:
        snap = DirectorySnapshot(issuer=self.issuer)
        self.login()
        for rep in self._all("users") or []:
            user = _user(rep)
            snap.users[user.id] = user
        if progress:
            progress("users", len(snap.users), len(snap.users))
        self._groups("groups", snap)
        group_ids = sorted(snap.groups)
        done = 0
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for group_id, reps in zip(
                group_ids, pool.map(lambda gid: self._all(f"groups/{gid}/members"), group_ids), strict=True
            ):
                snap.members[group_id] = self._note_users(snap, reps or [])
                done += 1
                if progress:
                    progress("groups", done, len(group_ids))
            for role, reps in zip(
                realm_roles,
                pool.map(
                    lambda r: self._all(f"roles/{quote(r, safe='')}/users", missing_ok=True), realm_roles
                ),
                strict=True,
            ):
                if reps is None:
                    snap.missing_roles.append(role)
                else:
                    snap.role_members[role] = self._note_users(snap, reps)
        snap.api_calls = self.calls
        return snap

    def _groups(self, path: str, snap: DirectorySnapshot) -> None:
        for rep in self._all(path) or []:
            group = KeycloakGroup(
                id=str(rep["id"]), name=str(rep.get("name", "")), path=str(rep.get("path", ""))
            )
            snap.groups[group.id] = group
            if int(rep.get("subGroupCount") or 0) > 0:
                self._groups(f"groups/{group.id}/children", snap)

    @staticmethod
    def _note_users(snap: DirectorySnapshot, reps: list[dict[str, Any]]) -> set[str]:
        ids: set[str] = set()
        for rep in reps:
            user = _user(rep)
            snap.users.setdefault(user.id, user)  # created in Keycloak while we were paging
            ids.add(user.id)
        return ids


def fetch_snapshot(
    settings: Settings, realm_roles: list[str], progress: Progress | None = None, *, workers: int = 4
) -> DirectorySnapshot:
    """Everything the sync needs from Keycloak, or KeycloakSyncError/KeycloakUnreachable (nothing written)."""
    directory = KeycloakDirectory(settings, workers=workers)
    try:
        return directory.snapshot(realm_roles, progress)
    except KeycloakSyncError:
        raise
    except (OSError, ValueError) as exc:  # a broken connection surfacing outside python-keycloak's wrapper
        raise KeycloakUnreachable(
            f"Keycloak at {directory.url} could not be read ({type(exc).__name__}: {exc})"
        )
