"""`c.Spawner.pre_spawn_hook`: ask the governance service before every launch, then apply its answer.

JupyterHub (5.x/6.x) calls the hook from `User.spawn` after `Authenticator.pre_spawn_start`,
`auth_state_hook` and `apply_user_options`, and before `Spawner.start()`. What the hook can see:

- `spawner.user_options`: from the spawn form (via `options_from_form`) or straight from a REST body,
  or the previous launch's options when none are given. Validated strictly here.
- `spawner.handler`: the tornado handler of the request that triggered the spawn, set for the whole
  of `User.spawn` (None for spawns without a request). The hub's HTTP server runs with
  `xheaders=True`, so `handler.request.remote_ip` is already taken from X-Forwarded-For (skipping
  `JupyterHub.trusted_downstream_ips`) — but tornado also lets a client-sent `X-Real-Ip` override it.
  We therefore read X-Forwarded-For ourselves, right to left from the socket peer, skipping our
  trusted proxies (loopback plus GOVERNANCE_TRUSTED_PROXIES CIDRs), and ignore X-Real-Ip. When the
  request was made by someone other than the server's owner (an admin, or a service through the
  REST API), its address says nothing about where the researcher sits, and client_ip is sent as
  null: the governance service must treat an unknown address as failing any network restriction.
- `spawner.user.get_auth_state()` (async): with OAuthenticator and `enable_auth_state`, a dict with
  `access_token`, `id_token` (also inside `token_response`) and the userinfo under `oauth_user`.
  amr/acr are read from the ID token, then the access token, then userinfo. Signatures are not
  checked here: the hub received these tokens directly from the identity provider's token endpoint
  over TLS (OIDC Core 3.1.3.7). Without auth state (e.g. DummyAuthenticator) amr is empty and mfa
  false, so profiles that require MFA are refused.

On deny the hook raises JupyterHub's SpawnException (6.x; HTTPError on 5.x) with status 403 and a
message naming each failed safe and its reasons; if the service cannot be asked it raises 503 with a
message that reveals nothing internal. Nothing is started in either case.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from html import escape
from typing import Any

from governance.hub import kube
from governance.hub.client import (
    AuthContext,
    Decision,
    GovernanceClient,
    GovernanceUnavailable,
    LaunchRequest,
    Obligations,
)
from governance.hub.options import LaunchChoice, hub_error, resolve_config, validate_user_options

log = logging.getLogger(__name__)

SAFE_TITLES = {
    "people": "Safe People",
    "projects": "Safe Projects",
    "data": "Safe Data",
    "settings": "Safe Settings",
}
# RFC 8176 method values that are a factor beyond a password.
SECOND_FACTORS = frozenset({"otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc"})
SETUP_FAILED_MESSAGE = (
    "The server could not be prepared with the controls your project requires, so it was not started. "
    "Contact the TRE support desk."
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1/128")  # configurable-http-proxy next to the hub is always trusted


# --- inputs: client address and sign-in context --------------------------------------------------


def parse_networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _valid_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip_from_forwarded(
    forwarded_for: str | None, peer: str | None, trusted: list[Network]
) -> str | None:
    """The client's address: reading X-Forwarded-For + the socket peer from the right, the first hop
    that is not one of our proxies. A peer that is not a trusted proxy is itself the client, so a
    forged header sent straight to the hub counts for nothing."""
    hops = [h for h in (forwarded_for or "").split(",") if h.strip()]
    if peer:
        hops.append(peer)
    for hop in reversed(hops):
        address = _valid_ip(hop)
        if address is None:
            return None  # a garbled chain is not evidence of anything
        if not any(address in net for net in trusted):
            return str(address)
    first = _valid_ip(hops[0]) if hops else None
    return str(first) if first else None


def _is_owner(current: Any, user: Any) -> bool:
    if current is None:
        return False
    if current is user:
        return True
    return getattr(current, "kind", None) == "user" and getattr(current, "name", None) == getattr(
        user, "name", ""
    )


def client_ip(spawner: Any, trusted: list[Network]) -> str | None:
    handler = getattr(spawner, "handler", None)
    request = getattr(handler, "request", None)
    if handler is None or request is None:
        return None
    try:
        current = handler.current_user
    except Exception:  # JupyterHub raises RuntimeError before authentication ran
        return None
    if not _is_owner(current, spawner.user):
        return None
    # The hub rewrites remote_ip from the headers; the socket peer is the proxy's address.
    context = getattr(getattr(request, "connection", None), "context", None)
    peer = getattr(context, "_orig_remote_ip", None) or getattr(request, "remote_ip", None)
    return client_ip_from_forwarded(request.headers.get("X-Forwarded-For"), peer, trusted)


def _jwt_claims(token: Any) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def auth_context_from_state(auth_state: Any, mfa_acr_values: frozenset[str] = frozenset()) -> AuthContext:
    sources: list[dict[str, Any]] = []
    if isinstance(auth_state, dict):
        response = auth_state.get("token_response")
        id_token = auth_state.get("id_token") or (
            response.get("id_token") if isinstance(response, dict) else None
        )
        sources = [_jwt_claims(id_token), _jwt_claims(auth_state.get("access_token"))]
        if isinstance(auth_state.get("oauth_user"), dict):
            sources.append(auth_state["oauth_user"])
    amr: list[str] = []
    acr: str | None = None
    for claims in sources:
        raw_amr = claims.get("amr")
        if not amr and isinstance(raw_amr, list):
            amr = [m[:32] for m in raw_amr if isinstance(m, str)][:10]
        elif not amr and isinstance(raw_amr, str):
            amr = [raw_amr[:32]]
        if acr is None and isinstance(claims.get("acr"), str):
            acr = claims["acr"][:64]
    mfa = "mfa" in amr or (len(set(amr)) >= 2 and bool(SECOND_FACTORS & set(amr))) or acr in mfa_acr_values
    return {"mfa": mfa, "acr": acr, "amr": amr}


async def auth_state_of(user: Any) -> Any:
    get_auth_state = getattr(user, "get_auth_state", None)
    return await get_auth_state() if get_auth_state is not None else None


async def auth_context(user: Any, mfa_acr_values: frozenset[str] = frozenset()) -> AuthContext:
    return auth_context_from_state(await auth_state_of(user), mfa_acr_values)


def user_access_token(auth_state: Any) -> str | None:
    """The user's own access token, so the service can read MFA from the IdP rather than trust the hub."""
    if isinstance(auth_state, dict):
        token = auth_state.get("access_token")
        if isinstance(token, str) and 0 < len(token) <= 8192:
            return token
    return None


def build_request(spawner: Any, choice: LaunchChoice, ip: str | None, auth: AuthContext) -> LaunchRequest:
    return {
        "username": spawner.user.name,
        "project": choice["project"],
        "profile": choice["profile"],
        "datasets": choice["datasets"],
        "server_name": spawner.name or "",
        "client_ip": ip,
        "auth": auth,
        "requested": {"cpu": choice["cpu"], "memory_gb": choice["memory_gb"], "gpu": choice["gpu"]},
    }


# --- outcomes -------------------------------------------------------------------------------------


def denial_message(decision: Decision) -> tuple[str, str]:
    """(plain text, HTML) explaining a deny, one entry per failed safe with its reasons."""
    failed = [(name, v["reasons"]) for name, v in decision["safes"].items() if not v["allowed"]]
    reference = f"Reference: {decision['decision_id']}."
    if not failed:
        text = f"The server was not started: the launch was not permitted. {reference}"
        return text, f"<p>{escape(text)}</p>"
    lines = [
        f"{SAFE_TITLES.get(name, name)}: {'; '.join(reasons) or 'no reason given'}"
        for name, reasons in failed
    ]
    text = "The server was not started because these Five Safes checks did not pass. " + " ".join(
        f"{line}." if not line.endswith(".") else line for line in lines
    )
    items = "".join(
        f"<li><strong>{escape(SAFE_TITLES.get(name, name))}</strong><ul>"
        + "".join(f"<li>{escape(r)}</li>" for r in (reasons or ["no reason given"]))
        + "</ul></li>"
        for name, reasons in failed
    )
    markup = (
        "<p>The server was not started because these Five Safes checks did not pass:</p>"
        f"<ul>{items}</ul><p>{escape(reference)}</p>"
    )
    return f"{text} {reference}", markup


def _is_kubespawner(spawner: Any) -> bool:
    return all(hasattr(spawner, a) for a in ("volumes", "volume_mounts", "image", "modify_pod_hook"))


def apply_obligations(
    spawner: Any,
    decision: Decision,
    choice: LaunchChoice,
    *,
    workspace_url: str,
    gpu_resource: str = kube.DEFAULT_GPU_RESOURCE,
) -> None:
    obligations: Obligations | None = decision["obligations"]
    if obligations is None:  # parse_decision guarantees obligations on allow; belt and braces
        raise ValueError("allowed decision without obligations")
    # The service's variables win; GOVERNANCE_TOKEN among them is a secret for the workspace.
    environment = {
        "GOVERNANCE_URL": workspace_url,
        "GOVERNANCE_PROJECT": choice["project"],
        "GOVERNANCE_DECISION_ID": decision["decision_id"],
        **obligations["environment"],
    }
    spawner.environment = {**spawner.environment, **environment}
    if hasattr(spawner, "cpu_limit"):
        spawner.cpu_limit = obligations["cpu_limit"]
        if (getattr(spawner, "cpu_guarantee", None) or 0) > obligations["cpu_limit"]:
            spawner.cpu_guarantee = obligations["cpu_limit"]
    if hasattr(spawner, "mem_limit"):
        spawner.mem_limit = int(obligations["memory_limit_gb"] * 2**30)
        if (getattr(spawner, "mem_guarantee", None) or 0) > spawner.mem_limit:
            spawner.mem_guarantee = spawner.mem_limit
    if hasattr(spawner, "extra_resource_limits"):
        limits = {k: v for k, v in spawner.extra_resource_limits.items() if not k.endswith("/gpu")}
        if obligations["gpu_limit"] > 0:
            limits[gpu_resource] = str(obligations["gpu_limit"])
        spawner.extra_resource_limits = limits
    spawner.governance_obligations = obligations
    spawner.governance_decision_id = decision["decision_id"]
    spawner.governance_project = choice["project"]
    spawner.governance_gpu_resource = gpu_resource
    if _is_kubespawner(spawner):
        kube.apply_to_kubespawner(
            spawner, obligations, decision_id=decision["decision_id"], project=choice["project"]
        )
    else:
        if obligations["image"] and hasattr(spawner, "image"):
            spawner.image = obligations["image"]
        if obligations["mounts"] or obligations["egress"] != "open":
            spawner.log.warning(
                "%s cannot enforce dataset mounts or egress; use KubeSpawner outside development",
                type(spawner).__name__,
            )


def make_pre_spawn_hook(
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = 5.0,
    *,
    trusted_proxies: Iterable[str] | None = None,
    workspace_url: str | None = None,
    mfa_acr_values: Iterable[str] | None = None,
    gpu_resource: str = kube.DEFAULT_GPU_RESOURCE,
    forward_user_token: bool = True,
) -> Callable[[Any], Awaitable[None]]:
    """Build the async pre-spawn hook. Raises RuntimeError at hub start-up if it is not configured.

    Defaults from the environment: GOVERNANCE_URL, GOVERNANCE_HUB_TOKEN, GOVERNANCE_TRUSTED_PROXIES
    (comma-separated CIDRs of our own proxies), GOVERNANCE_WORKSPACE_URL (the service's address as
    seen from workspaces; default GOVERNANCE_URL), GOVERNANCE_MFA_ACR_VALUES (acr values that mean
    multi-factor sign-in, comma-separated).
    """
    url, secret = resolve_config(base_url, token)
    client = GovernanceClient(url, secret, timeout=timeout)
    env = os.environ
    trusted = parse_networks(
        [
            *LOOPBACK,
            *(
                trusted_proxies
                if trusted_proxies is not None
                else env.get("GOVERNANCE_TRUSTED_PROXIES", "").split(",")
            ),
        ]
    )
    acr_values = frozenset(
        v.strip()
        for v in (
            mfa_acr_values
            if mfa_acr_values is not None
            else env.get("GOVERNANCE_MFA_ACR_VALUES", "").split(",")
        )
        if v.strip()
    )
    seen_from_workspace = workspace_url or env.get("GOVERNANCE_WORKSPACE_URL") or url

    async def governance_pre_spawn_hook(spawner: Any) -> None:
        logger = getattr(spawner, "log", log)
        who = f"{spawner.user.name}/{spawner.name or ''}"
        choice = validate_user_options(spawner.user_options)  # InvalidOptions: HTTP 400
        state = await auth_state_of(spawner.user)
        request = build_request(
            spawner, choice, client_ip(spawner, trusted), auth_context_from_state(state, acr_values)
        )
        token = user_access_token(state) if forward_user_token else None
        if token:
            request["user_token"] = token  # refreshed before spawn: c.Authenticator.refresh_pre_spawn
        try:
            decision = await client.decide(request)
        except GovernanceUnavailable as exc:
            logger.error("governance launch decision for %s failed: %s", who, exc.log_detail)
            raise hub_error(str(exc), reason="governance_unavailable", status_code=503) from None
        if not decision["allowed"]:
            text, markup = denial_message(decision)
            logger.info("launch of %s denied by governance decision %s", who, decision["decision_id"])
            raise hub_error(text, reason="governance_denied", status_code=403, message_html=markup)
        try:
            apply_obligations(
                spawner, decision, choice, workspace_url=seen_from_workspace, gpu_resource=gpu_resource
            )
        except (ValueError, TypeError) as exc:
            logger.error("cannot apply governance decision %s to %s: %s", decision["decision_id"], who, exc)
            raise hub_error(SETUP_FAILED_MESSAGE, reason="governance_obligations", status_code=500) from None
        logger.info(
            "launch of %s allowed by governance decision %s (policy %s)",
            who,
            decision["decision_id"],
            decision["policy_version"],
        )

    return governance_pre_spawn_hook
