"""HTTP client the hub uses to ask the governance service for launch decisions.

Light on purpose: standard library and httpx only, so it can be installed in a hub image without the
service. Fails closed: anything other than a well-formed 200 answer raises GovernanceUnavailable,
whose message is safe to show to a researcher (no host names, status codes or stack traces).
"""

from __future__ import annotations

import asyncio
import json
import math
import posixpath
import re
from typing import Any, Literal, TypedDict, cast

import httpx

UNAVAILABLE_MESSAGE = (
    "The governance service could not be reached, so the server was not started. "
    "Try again in a minute; if it persists, contact the TRE support desk."
)

SAFES: tuple[str, ...] = ("people", "projects", "data", "settings")
EGRESS_VALUES: frozenset[str] = frozenset({"none", "proxy", "open"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class GovernanceUnavailable(Exception):
    """The governance service gave no usable answer; the launch must not go ahead.

    `str(exc)` is the user-safe message; `log_detail` says what went wrong, for the hub log only.
    """

    def __init__(self, log_detail: str) -> None:
        super().__init__(UNAVAILABLE_MESSAGE)
        self.user_message = UNAVAILABLE_MESSAGE
        self.log_detail = log_detail


class AuthContext(TypedDict):
    mfa: bool
    acr: str | None
    amr: list[str]


class Requested(TypedDict):
    cpu: float | None
    memory_gb: float | None
    gpu: int | None


class LaunchRequest(TypedDict, total=False):
    username: str
    project: str
    profile: str
    datasets: list[str]
    server_name: str
    client_ip: str | None
    auth: AuthContext
    requested: Requested
    user_token: str


class SafeVerdict(TypedDict):
    allowed: bool
    reasons: list[str]


Egress = Literal["none", "proxy", "open"]


class Mount(TypedDict):
    dataset: str
    storage_uri: str
    mount_path: str
    read_only: bool


class Obligations(TypedDict):
    image: str
    cpu_limit: float
    memory_limit_gb: float
    gpu_limit: int
    mounts: list[Mount]
    egress: Egress
    environment: dict[str, str]
    expires_at: str


class Decision(TypedDict):
    decision_id: str
    allowed: bool
    policy_version: str
    safes: dict[str, SafeVerdict]
    obligations: Obligations | None


class ProfileOption(TypedDict):
    slug: str
    title: str
    max_tier: int
    cpu: float
    memory_gb: float
    gpu: int
    mfa_required: bool


class DatasetOption(TypedDict):
    slug: str
    title: str
    tier: int


class ProjectOption(TypedDict):
    slug: str
    title: str
    tier: int
    profiles: list[ProfileOption]
    datasets: list[DatasetOption]


class LaunchOptions(TypedDict):
    projects: list[ProjectOption]


class _Malformed(Exception):
    pass


class GovernanceClient:
    """Talks to `POST /api/v1/launch-decisions` and `GET /api/v1/hub/launch-options`."""

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        if not base_url or not token:
            raise ValueError("GovernanceClient needs a base URL and a service token")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the token
        return f"GovernanceClient(base_url={self.base_url!r}, timeout={self.timeout})"

    async def decide(self, request: LaunchRequest) -> Decision:
        body = await self._call("POST", "/api/v1/launch-decisions", json_body=request)
        try:
            return parse_decision(body)
        except _Malformed as exc:
            raise GovernanceUnavailable(f"malformed launch decision: {exc}") from None

    async def launch_options(self, username: str) -> LaunchOptions:
        body = await self._call("GET", "/api/v1/hub/launch-options", params={"username": username})
        try:
            return parse_launch_options(body)
        except _Malformed as exc:
            raise GovernanceUnavailable(f"malformed launch options: {exc}") from None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            # httpx time-outs are per phase; asyncio.timeout bounds the whole exchange.
            async with asyncio.timeout(self.timeout):
                async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                    response = await http.request(
                        method, self.base_url + path, headers=headers, json=json_body, params=params
                    )
        except TimeoutError:
            raise GovernanceUnavailable(f"{method} {path}: no answer within {self.timeout}s") from None
        except httpx.HTTPError as exc:
            raise GovernanceUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise GovernanceUnavailable(
                f"{method} {path}: HTTP {response.status_code} {_problem_summary(response)}"
            )
        try:
            return json.loads(response.content)
        except ValueError:
            raise GovernanceUnavailable(f"{method} {path}: response is not JSON") from None


def _problem_summary(response: httpx.Response) -> str:
    try:
        problem = json.loads(response.content)
    except ValueError:
        return "(no JSON body)"
    if isinstance(problem, dict):
        title, detail = problem.get("title"), problem.get("detail")
        return f"{title!s}: {detail!s}"[:300]
    return "(unexpected body)"


# --- strict parsing of the contract --------------------------------------------------------------


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _Malformed(f"{where}.{key} missing")
    return obj[key]


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{where} is not a list")
    return value


def _str(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise _Malformed(f"{where} is not a non-empty string")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Malformed(f"{where} is not a boolean")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{where} is not a non-negative integer")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{where} is not a number")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise _Malformed(f"{where} is not a positive number")
    return number


def parse_decision(body: Any) -> Decision:
    """Validate a launch-decision body; raise _Malformed on anything unexpected."""
    obj = _dict(body, "decision")
    allowed = _bool(_field(obj, "allowed", "decision"), "decision.allowed")
    safes_obj = _dict(_field(obj, "safes", "decision"), "decision.safes")
    safes: dict[str, SafeVerdict] = {}
    for name in SAFES:
        where = f"decision.safes.{name}"
        verdict = _dict(_field(safes_obj, name, "decision.safes"), where)
        reasons = [_str(r, f"{where}.reasons[]") for r in _list(_field(verdict, "reasons", where), where)]
        safes[name] = {
            "allowed": _bool(_field(verdict, "allowed", where), f"{where}.allowed"),
            "reasons": reasons,
        }
    if allowed and not all(v["allowed"] for v in safes.values()):
        raise _Malformed("allowed is true while a safe is not allowed")
    raw_obligations = _field(obj, "obligations", "decision")
    obligations: Obligations | None = None
    if allowed:
        obligations = parse_obligations(raw_obligations)
    return {
        "decision_id": _str(_field(obj, "decision_id", "decision"), "decision.decision_id"),
        "allowed": allowed,
        "policy_version": _str(_field(obj, "policy_version", "decision"), "decision.policy_version"),
        "safes": safes,
        "obligations": obligations,
    }


def parse_obligations(body: Any) -> Obligations:
    where = "obligations"
    obj = _dict(body, where)
    egress = _str(_field(obj, "egress", where), f"{where}.egress")
    if egress not in EGRESS_VALUES:
        raise _Malformed(f"{where}.egress has an unknown value")
    mounts: list[Mount] = []
    for raw in _list(_field(obj, "mounts", where), f"{where}.mounts"):
        mount = _dict(raw, f"{where}.mounts[]")
        path = _str(_field(mount, "mount_path", "mount"), "mount.mount_path").rstrip("/")
        if not path.startswith("/") or posixpath.normpath(path) != path or ".." in path.split("/"):
            raise _Malformed("mount.mount_path must be a normalised absolute path below /")
        if _field(mount, "read_only", "mount") is not True:
            raise _Malformed("mount.read_only must be true")
        mounts.append(
            {
                # The service names the field dataset_slug; "dataset" is accepted from older services.
                "dataset": _str(
                    _field(mount, "dataset_slug" if "dataset_slug" in mount else "dataset", "mount"),
                    "mount.dataset_slug",
                ),
                "storage_uri": _str(_field(mount, "storage_uri", "mount"), "mount.storage_uri"),
                "mount_path": path,
                "read_only": True,
            }
        )
    env_obj = _dict(_field(obj, "environment", where), f"{where}.environment")
    environment: dict[str, str] = {}
    for key, value in env_obj.items():
        if not _ENV_NAME.match(key):
            raise _Malformed(f"{where}.environment has an invalid variable name")
        environment[key] = _str(value, f"{where}.environment value", empty=True)
    return {
        "image": _str(_field(obj, "image", where), f"{where}.image"),
        "cpu_limit": _number(_field(obj, "cpu_limit", where), f"{where}.cpu_limit"),
        "memory_limit_gb": _number(_field(obj, "memory_limit_gb", where), f"{where}.memory_limit_gb"),
        "gpu_limit": _int(_field(obj, "gpu_limit", where), f"{where}.gpu_limit"),
        "mounts": mounts,
        "egress": cast(Egress, egress),
        "environment": environment,
        "expires_at": _str(_field(obj, "expires_at", where), f"{where}.expires_at"),
    }


def parse_launch_options(body: Any) -> LaunchOptions:
    obj = _dict(body, "launch options")
    projects: list[ProjectOption] = []
    for raw in _list(_field(obj, "projects", "launch options"), "projects"):
        p = _dict(raw, "project")
        profiles: list[ProfileOption] = []
        for raw_profile in _list(_field(p, "profiles", "project"), "project.profiles"):
            pr = _dict(raw_profile, "profile")
            profiles.append(
                {
                    "slug": _str(_field(pr, "slug", "profile"), "profile.slug"),
                    "title": _str(_field(pr, "title", "profile"), "profile.title", empty=True),
                    "max_tier": _int(_field(pr, "max_tier", "profile"), "profile.max_tier"),
                    "cpu": _number(_field(pr, "cpu", "profile"), "profile.cpu"),
                    "memory_gb": _number(_field(pr, "memory_gb", "profile"), "profile.memory_gb"),
                    "gpu": _int(_field(pr, "gpu", "profile"), "profile.gpu"),
                    "mfa_required": _bool(_field(pr, "mfa_required", "profile"), "profile.mfa_required"),
                }
            )
        datasets: list[DatasetOption] = []
        for raw_dataset in _list(_field(p, "datasets", "project"), "project.datasets"):
            d = _dict(raw_dataset, "dataset")
            datasets.append(
                {
                    "slug": _str(_field(d, "slug", "dataset"), "dataset.slug"),
                    "title": _str(_field(d, "title", "dataset"), "dataset.title", empty=True),
                    "tier": _int(_field(d, "tier", "dataset"), "dataset.tier"),
                }
            )
        projects.append(
            {
                "slug": _str(_field(p, "slug", "project"), "project.slug"),
                "title": _str(_field(p, "title", "project"), "project.title", empty=True),
                "tier": _int(_field(p, "tier", "project"), "project.tier"),
                "profiles": profiles,
                "datasets": datasets,
            }
        )
    return {"projects": projects}
