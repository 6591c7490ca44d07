"""Unit tests for governance.hub (pre-spawn hook, spawn form, pod enforcement).

The governance service is being written in parallel, so a real HTTP server started here (stdlib
http.server on a free port) stands in for it, answering with canned responses that follow the
launch-decision contract. The hook talks to it over real HTTP. The end-to-end tests with a real hub
and the real service live elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.spawner import SimpleLocalProcessSpawner, SpawnException
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from traitlets import Dict, List, Unicode

from governance.hub import (
    UNAVAILABLE_MESSAGE,
    InvalidOptions,
    make_options_form,
    make_pre_spawn_hook,
    modify_pod_hook,
    options_from_form,
    validate_user_options,
)
from governance.hub.kube import volume_source
from governance.hub.spawn_hooks import auth_context_from_state, client_ip_from_forwarded, parse_networks

TOKEN = "hub-secret-token"
GIB = 2**30

# --- a stand-in governance service over real HTTP --------------------------------------------------


@dataclass
class Canned:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class FakeGovernance:
    url: str
    routes: dict[tuple[str, str], Canned] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def governance() -> Iterator[FakeGovernance]:
    state = FakeGovernance(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            state.seen.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            canned = state.routes.get((self.command, path), Canned(404, {"title": "Not Found"}))
            if canned.delay:
                time.sleep(canned.delay)
            payload = canned.raw if canned.raw is not None else json.dumps(canned.body).encode()
            try:
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (time-out test)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- contract fixtures ----------------------------------------------------------------------------


def obligations(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "image": "registry.tre/notebook:2024.1@sha256:abc",
        "cpu_limit": 2.0,
        "memory_limit_gb": 4,
        "gpu_limit": 0,
        "mounts": [
            {
                "dataset": "hospital-episodes",
                "storage_uri": "pvc://tre-datasets/hospital-episodes/v3",
                "mount_path": "/data/hospital-episodes",
                "read_only": True,
            }
        ],
        "egress": "none",
        "environment": {"GOVERNANCE_TOKEN": "workspace-secret", "TRE_TIER": "2"},
        "expires_at": (datetime.now(UTC) + timedelta(hours=8)).isoformat(),
    }
    base.update(overrides)
    return base


def decision(allowed: bool, **safes: list[str]) -> dict[str, Any]:
    verdicts = {
        name: {"allowed": name not in safes, "reasons": safes.get(name, [])}
        for name in ("people", "projects", "data", "settings")
    }
    return {
        "decision_id": "0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11",
        "allowed": allowed,
        "policy_version": "9f2c1a",
        "safes": verdicts,
        "obligations": obligations() if allowed else None,
    }


def jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


class User:
    """Data stand-in for jupyterhub.user.User: a name, a kind and async auth state."""

    kind = "user"

    def __init__(self, name: str, auth_state: dict[str, Any] | None = None) -> None:
        self.name = name
        self._auth_state = auth_state

    async def get_auth_state(self) -> dict[str, Any] | None:
        return self._auth_state


def request_from(forwarded_for: str | None, peer: str = "127.0.0.1") -> HTTPServerRequest:
    headers = HTTPHeaders({"X-Real-Ip": "198.51.100.99"})  # must be ignored
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    request = HTTPServerRequest(method="POST", uri="/hub/spawn/alice", headers=headers)
    request.remote_ip = peer
    return request


def make_spawner(
    user_options: Any, *, user: User | None = None, forwarded_for: str | None = "203.0.113.7"
) -> Any:
    owner = user or User("alice", {"id_token": jwt({"amr": ["pwd", "otp"], "acr": "1"})})
    spawner = SimpleLocalProcessSpawner(user=owner)
    spawner.user_options = user_options
    spawner.environment = {"EXISTING": "kept"}
    spawner.handler = SimpleNamespace(request=request_from(forwarded_for), current_user=owner)
    return spawner


CHOICE = {"project": "diabetes-outcomes", "profile": "standard", "datasets": ["hospital-episodes"]}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- pre-spawn hook: allow ------------------------------------------------------------------------


def test_allow_applies_environment_limits_and_records_the_decision(governance: FakeGovernance) -> None:
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=decision(True))
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    spawner = make_spawner({**CHOICE, "cpu": 2, "memory_gb": 4.0, "gpu": None})

    run(hook(spawner))

    env = spawner.environment
    assert env["GOVERNANCE_TOKEN"] == "workspace-secret"
    assert env["TRE_TIER"] == "2"
    assert env["EXISTING"] == "kept"
    assert env["GOVERNANCE_PROJECT"] == "diabetes-outcomes"
    assert env["GOVERNANCE_DECISION_ID"] == "0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11"
    assert env["GOVERNANCE_URL"] == governance.url
    assert spawner.cpu_limit == 2.0
    assert spawner.mem_limit == 4 * GIB
    assert spawner.governance_decision_id == "0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11"
    assert spawner.governance_obligations["mounts"][0]["mount_path"] == "/data/hospital-episodes"

    (call,) = governance.seen
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    sent = json.loads(call["body"])
    assert sent == {
        "username": "alice",
        "project": "diabetes-outcomes",
        "profile": "standard",
        "datasets": ["hospital-episodes"],
        "server_name": "",
        "client_ip": "203.0.113.7",
        "auth": {"mfa": True, "acr": "1", "amr": ["pwd", "otp"]},
        "requested": {"cpu": 2.0, "memory_gb": 4.0, "gpu": None},
    }


def test_without_auth_state_mfa_is_false_and_an_admin_request_sends_no_client_ip(
    governance: FakeGovernance,
) -> None:
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=decision(True))
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    spawner = make_spawner(CHOICE, user=User("alice", None))
    spawner.handler = SimpleNamespace(request=request_from("203.0.113.7"), current_user=User("admin"))

    run(hook(spawner))

    sent = json.loads(governance.seen[0]["body"])
    assert sent["auth"] == {"mfa": False, "acr": None, "amr": []}
    assert sent["client_ip"] is None
    assert sent["requested"] == {"cpu": None, "memory_gb": None, "gpu": None}


def test_the_users_access_token_is_forwarded_so_the_service_reads_mfa_from_the_idp(
    governance: FakeGovernance,
) -> None:
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=decision(True))
    access = jwt({"amr": ["pwd"], "sub": "alice"})
    spawner = make_spawner(CHOICE, user=User("alice", {"access_token": access}))
    run(make_pre_spawn_hook(governance.url, TOKEN)(spawner))
    assert json.loads(governance.seen[0]["body"])["user_token"] == access
    spawner = make_spawner(CHOICE, user=User("alice", {"access_token": access}))
    run(make_pre_spawn_hook(governance.url, TOKEN, forward_user_token=False)(spawner))
    assert "user_token" not in json.loads(governance.seen[1]["body"])


class KubeLikeSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    """KubeSpawner's trait names, without a cluster (KubeSpawner itself is not installed here)."""

    image = Unicode("default/notebook:latest")
    volumes: List[Any] = List()
    volume_mounts: List[Any] = List()
    extra_labels = Dict()
    extra_annotations = Dict()
    extra_resource_limits = Dict()
    modify_pod_hook = Unicode(None, allow_none=True)


def test_allow_on_a_kubespawner_sets_image_volumes_labels_and_gpu(governance: FakeGovernance) -> None:
    allowed = decision(True)
    allowed["obligations"]["gpu_limit"] = 1
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=allowed)
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    owner = User("alice", None)
    spawner = KubeLikeSpawner(user=owner)
    spawner.user_options = CHOICE
    spawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}}]
    spawner.extra_resource_limits = {"amd.com/gpu": "4"}

    run(hook(spawner))

    assert spawner.image == "registry.tre/notebook:2024.1@sha256:abc"
    assert [v["name"] for v in spawner.volumes] == ["home", "gov-ds-hospital-episodes"]
    assert spawner.volumes[1]["persistentVolumeClaim"] == {"claimName": "tre-datasets", "readOnly": True}
    assert spawner.volume_mounts == [
        {
            "name": "gov-ds-hospital-episodes",
            "mountPath": "/data/hospital-episodes",
            "readOnly": True,
            "subPath": "hospital-episodes/v3",
        }
    ]
    assert spawner.extra_labels["five-safes/egress"] == "none"
    assert spawner.extra_labels["five-safes/project"] == "diabetes-outcomes"
    assert spawner.extra_resource_limits == {"nvidia.com/gpu": "1"}


# --- pre-spawn hook: deny -------------------------------------------------------------------------


def test_deny_raises_403_listing_each_failed_safe_and_its_reasons(governance: FakeGovernance) -> None:
    denied = decision(
        False,
        people=["Your accreditation expired on 2025-01-31.", "Sign the data access agreement <script>."],
        data=["Dataset gp-prescribing is not granted to project diabetes-outcomes."],
    )
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=denied)
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    spawner = make_spawner(CHOICE)

    with pytest.raises(SpawnException) as caught:
        run(hook(spawner))

    exc = caught.value
    assert exc.status_code == 403
    assert exc.reason == "governance_denied"
    message = exc.message
    assert "Safe People: Your accreditation expired on 2025-01-31.; Sign the data access agreement" in message
    assert "Safe Data: Dataset gp-prescribing is not granted to project diabetes-outcomes." in message
    assert "Safe Projects" not in message and "Safe Settings" not in message
    assert "0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11" in message
    assert exc.jupyterhub_message == message  # what the spawn-progress page shows
    assert "&lt;script&gt;" in exc.message_html and "<script>" not in exc.message_html
    assert "<li>Your accreditation expired on 2025-01-31.</li>" in exc.message_html
    assert "GOVERNANCE_TOKEN" not in spawner.environment
    assert not hasattr(spawner, "governance_obligations")


# --- pre-spawn hook: fail closed ------------------------------------------------------------------

FAILURES: dict[str, Callable[[FakeGovernance], Canned | None]] = {
    "unreachable": lambda g: None,
    "timeout": lambda g: Canned(body=decision(True), delay=1.5),
    "server-error": lambda g: Canned(
        500,
        {"title": "Internal Server Error", "detail": "db down at 10.0.0.5"},
        content_type="application/problem+json",
    ),
    "unauthorised": lambda g: Canned(401, {"title": "Unauthorized"}, content_type="application/problem+json"),
    "garbage": lambda g: Canned(raw=b"<html>proxy error</html>", content_type="text/html"),
    "wrong-shape": lambda g: Canned(body={"allowed": True}),
    "allowed-without-obligations": lambda g: Canned(body={**decision(True), "obligations": None}),
    "allowed-with-a-failed-safe": lambda g: Canned(body={**decision(False, people=["x"]), "allowed": True}),
    "writable-mount": lambda g: Canned(
        body={
            **decision(True),
            "obligations": obligations(
                mounts=[
                    {"dataset": "d", "storage_uri": "pvc://c", "mount_path": "/data/d", "read_only": False}
                ]
            ),
        }
    ),
    "redirect": lambda g: Canned(302, {}),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_any_failure_to_get_a_usable_decision_fails_closed(governance: FakeGovernance, failure: str) -> None:
    canned = FAILURES[failure](governance)
    url = closed_port_url() if canned is None else governance.url
    if canned is not None:
        governance.routes[("POST", "/api/v1/launch-decisions")] = canned
    hook = make_pre_spawn_hook(url, TOKEN, timeout=0.5)
    spawner = make_spawner(CHOICE)

    started = time.monotonic()
    with pytest.raises(SpawnException) as caught:
        run(hook(spawner))

    assert time.monotonic() - started < 1.4
    assert caught.value.status_code == 503
    assert caught.value.message == UNAVAILABLE_MESSAGE
    assert caught.value.jupyterhub_message == UNAVAILABLE_MESSAGE
    assert "127.0.0.1" not in caught.value.message and "10.0.0.5" not in caught.value.message
    assert "GOVERNANCE_TOKEN" not in spawner.environment
    assert not hasattr(spawner, "governance_obligations")


def test_unsupported_dataset_storage_stops_the_launch(governance: FakeGovernance) -> None:
    allowed = decision(True)
    allowed["obligations"]["mounts"][0]["storage_uri"] = "s3://bucket/hospital-episodes"
    governance.routes[("POST", "/api/v1/launch-decisions")] = Canned(body=allowed)
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    spawner = KubeLikeSpawner(user=User("alice"))
    spawner.user_options = CHOICE

    with pytest.raises(SpawnException) as caught:
        run(hook(spawner))
    assert caught.value.status_code == 500
    assert "s3" not in caught.value.message


def test_invalid_user_options_from_a_rest_body_are_refused_before_asking(governance: FakeGovernance) -> None:
    hook = make_pre_spawn_hook(governance.url, TOKEN)
    spawner = make_spawner({**CHOICE, "profile": {"kubespawner_override": {"image": "evil"}}})

    with pytest.raises(InvalidOptions) as caught:
        run(hook(spawner))
    assert caught.value.status_code == 400
    assert "profile" in caught.value.jupyterhub_message
    assert governance.seen == []


def test_hook_refuses_to_be_built_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_URL", raising=False)
    monkeypatch.delenv("GOVERNANCE_HUB_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="GOVERNANCE_URL and GOVERNANCE_HUB_TOKEN"):
        make_pre_spawn_hook()
    monkeypatch.setenv("GOVERNANCE_URL", "http://gov.internal")
    with pytest.raises(RuntimeError, match="GOVERNANCE_HUB_TOKEN"):
        make_pre_spawn_hook()


# --- client address and sign-in context -----------------------------------------------------------

TRUSTED = parse_networks(["127.0.0.0/8", "10.42.0.0/16"])


@pytest.mark.parametrize(
    ("forwarded_for", "peer", "expected"),
    [
        ("203.0.113.7", "127.0.0.1", "203.0.113.7"),  # proxy on the hub's machine
        ("6.6.6.6, 203.0.113.7", "10.42.1.5", "203.0.113.7"),  # client-sent first entry is ignored
        ("203.0.113.7, 10.42.0.9", "10.42.1.5", "203.0.113.7"),  # two trusted proxy hops
        ("6.6.6.6", "198.51.100.4", "198.51.100.4"),  # header sent straight to the hub: not believed
        (None, "198.51.100.4", "198.51.100.4"),
        ("not-an-ip", "127.0.0.1", None),
        ("10.42.0.1", "127.0.0.1", "10.42.0.1"),  # all hops trusted: the furthest one
    ],
)
def test_client_ip_from_forwarded(forwarded_for: str | None, peer: str, expected: str | None) -> None:
    assert client_ip_from_forwarded(forwarded_for, peer, TRUSTED) == expected


def test_auth_context_reads_amr_and_acr_from_tokens_and_userinfo() -> None:
    otp = {"id_token": jwt({"amr": ["pwd", "otp"], "acr": "1"})}
    assert auth_context_from_state(otp) == {"mfa": True, "acr": "1", "amr": ["pwd", "otp"]}
    password_only = {"access_token": jwt({"amr": ["pwd"], "acr": "0"})}
    assert auth_context_from_state(password_only)["mfa"] is False
    by_acr = {"token_response": {"id_token": jwt({"acr": "gold"})}}
    assert auth_context_from_state(by_acr, frozenset({"gold"})) == {"mfa": True, "acr": "gold", "amr": []}
    from_userinfo = {"access_token": "opaque", "oauth_user": {"amr": "mfa"}}
    assert auth_context_from_state(from_userinfo)["mfa"] is True
    assert auth_context_from_state({"id_token": "x.!!!.y"}) == {"mfa": False, "acr": None, "amr": []}


# --- options_from_form / validate_user_options ----------------------------------------------------


def test_options_from_form_parses_a_good_submission() -> None:
    form = {
        "_xsrf": ["token"],
        "launch": ["diabetes-outcomes/standard"],
        "datasets": ["diabetes-outcomes/hospital-episodes", "diabetes-outcomes/census-extract"],
        "cpu": ["1.5"],
        "memory_gb": [""],
        "gpu": ["0"],
    }
    assert options_from_form(form, spawner=None) == {
        "project": "diabetes-outcomes",
        "profile": "standard",
        "datasets": ["hospital-episodes", "census-extract"],
        "cpu": 1.5,
        "memory_gb": None,
        "gpu": 0,
    }


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"launch": ["diabetes-outcomes"]},
        {"launch": ["a/b/c"]},
        {"launch": ["diabetes-outcomes/standard", "school-attainment/standard"]},
        {"launch": ['diabetes-outcomes/standard"><script>alert(1)</script>']},
        {"launch": ["../../etc/standard"]},
        {"launch": ["Diabetes-Outcomes/standard"]},
        {"launch": ["diabetes-outcomes/standard'; DROP TABLE projects;--"]},
        {"launch": ["diabetes-outcomes/standard"], "datasets": ["school-attainment/census-extract"]},
        {"launch": ["diabetes-outcomes/standard"], "datasets": ["hospital-episodes"]},
        {
            "launch": ["diabetes-outcomes/standard"],
            "datasets": ["diabetes-outcomes/x", "diabetes-outcomes/x"],
        },
        {"launch": ["diabetes-outcomes/standard"], "cpu": ["1e3"]},
        {"launch": ["diabetes-outcomes/standard"], "cpu": ["NaN"]},
        {"launch": ["diabetes-outcomes/standard"], "cpu": ["-1"]},
        {"launch": ["diabetes-outcomes/standard"], "cpu": ["0"]},
        {"launch": ["diabetes-outcomes/standard"], "memory_gb": ["4 GB"]},
        {"launch": ["diabetes-outcomes/standard"], "gpu": ["1.5"]},
        {"launch": ["diabetes-outcomes/standard"], "image": ["evil/image"]},
        {"launch": ["diabetes-outcomes/standard"], "profile": ["gpu-secure"]},
    ],
)
def test_options_from_form_rejects_bad_input(form: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidOptions) as caught:
        options_from_form(form)
    assert caught.value.status_code == 400
    assert caught.value.jupyterhub_message


@pytest.mark.parametrize(
    "options",
    [
        None,
        [],
        "diabetes-outcomes",
        {"project": "diabetes-outcomes"},
        {**CHOICE, "cpu": True},
        {**CHOICE, "cpu": "2"},
        {**CHOICE, "cpu": float("inf")},
        {**CHOICE, "memory_gb": -4},
        {**CHOICE, "gpu": 1.0},
        {**CHOICE, "gpu": 65},
        {**CHOICE, "datasets": "hospital-episodes"},
        {**CHOICE, "datasets": [["hospital-episodes"]]},
        {**CHOICE, "datasets": ["x"] * 51},
        {**CHOICE, "project": 7},
        {**CHOICE, "profile": {"display_name": "dyn", "kubespawner_override": {}}},
        {**CHOICE, "image": "evil"},
        {**CHOICE, "project": "a" * 64},
    ],
)
def test_validate_user_options_is_strict(options: Any) -> None:
    with pytest.raises(InvalidOptions):
        validate_user_options(options)


def test_validate_user_options_accepts_the_contract_shape() -> None:
    assert validate_user_options({**CHOICE, "cpu": 2, "memory_gb": 8.5, "gpu": 1}) == {
        **CHOICE,
        "cpu": 2.0,
        "memory_gb": 8.5,
        "gpu": 1,
    }


# --- the spawn form -------------------------------------------------------------------------------


def launch_options(title: str) -> dict[str, Any]:
    return {
        "projects": [
            {
                "slug": "diabetes-outcomes",
                "title": title,
                "tier": 2,
                "profiles": [
                    {
                        "slug": "standard",
                        "title": "Standard",
                        "max_tier": 2,
                        "cpu": 2,
                        "memory_gb": 8,
                        "gpu": 0,
                        "mfa_required": False,
                    },
                    {
                        "slug": "gpu-secure",
                        "title": "GPU <secure>",
                        "max_tier": 3,
                        "cpu": 8,
                        "memory_gb": 64,
                        "gpu": 1,
                        "mfa_required": True,
                    },
                ],
                "datasets": [
                    {"slug": "hospital-episodes", "title": 'Hospital "episodes" & stays', "tier": 2}
                ],
            }
        ]
    }


def test_options_form_lists_choices_and_escapes_html(governance: FakeGovernance) -> None:
    hostile = '<img src=x onerror="alert(1)">Diabetes'
    governance.routes[("GET", "/api/v1/hub/launch-options")] = Canned(body=launch_options(hostile))
    form = make_options_form(governance.url, TOKEN)
    spawner = make_spawner({})

    html_text = run(form(spawner))

    assert governance.seen[0]["path"] == "/api/v1/hub/launch-options?username=alice"
    assert governance.seen[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert "<img" not in html_text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Diabetes" in html_text
    assert "GPU &lt;secure&gt;" in html_text
    assert "Hospital &quot;episodes&quot; &amp; stays" in html_text
    assert 'value="diabetes-outcomes/standard"' in html_text
    assert 'value="diabetes-outcomes/gpu-secure"' in html_text
    assert (
        'name="datasets" id="governance-dataset-0-0" value="diabetes-outcomes/hospital-episodes"' in html_text
    )
    assert "needs multi-factor sign-in" in html_text
    # what the browser sends back from this form parses
    assert (
        options_from_form(
            {"launch": ["diabetes-outcomes/gpu-secure"], "datasets": ["diabetes-outcomes/hospital-episodes"]}
        )["profile"]
        == "gpu-secure"
    )


def test_options_form_fails_closed_when_governance_is_down() -> None:
    form = make_options_form(closed_port_url(), TOKEN, timeout=0.5)
    with pytest.raises(SpawnException) as caught:
        run(form(make_spawner({})))
    assert caught.value.status_code == 503
    assert caught.value.message == UNAVAILABLE_MESSAGE


# --- modify_pod_hook on a stand-in V1Pod ----------------------------------------------------------


def ns(**kwargs: Any) -> SimpleNamespace:
    return SimpleNamespace(**kwargs)


def hostile_pod() -> SimpleNamespace:
    """A pod as a profile_list override might have left it: wrong image, big limits, writable data."""
    notebook = ns(
        name="notebook",
        image="attacker/anything:latest",
        resources=ns(
            limits={"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8", "amd.com/gpu": "1"},
            requests={"cpu": "32", "memory": "1Gi"},
        ),
        volume_mounts=[
            ns(name="home", mount_path="/home/jovyan", read_only=None, sub_path=None),
            ns(
                name="gov-ds-hospital-episodes",
                mount_path="/data/hospital-episodes",
                read_only=False,
                sub_path=None,
            ),
            ns(
                name="gov-ds-gp-prescribing",
                mount_path="/data/gp-prescribing",
                read_only=False,
                sub_path=None,
            ),
            ns(name="scratch", mount_path="/data/hospital-episodes/tmp", read_only=False, sub_path=None),
        ],
    )
    sidecar = ns(
        name="exporter",
        image="side:1",
        resources=None,
        volume_mounts=[
            ns(name="gov-ds-hospital-episodes", mount_path="/mnt", read_only=False, sub_path=None)
        ],
    )
    return ns(
        metadata=ns(name="jupyter-alice", labels={"component": "singleuser-server"}, annotations=None),
        spec=ns(
            containers=[sidecar, notebook],
            init_containers=None,
            volumes=[
                ns(name="home", persistent_volume_claim=ns(claim_name="claim-alice", read_only=False)),
                ns(
                    name="gov-ds-hospital-episodes",
                    persistent_volume_claim=ns(claim_name="rw", read_only=False),
                ),
                ns(name="gov-ds-gp-prescribing", nfs=ns(server="nfs", path="/gp", read_only=False)),
                ns(name="scratch", empty_dir=ns()),
            ],
            active_deadline_seconds=None,
        ),
    )


def decided_spawner(**overrides: Any) -> SimpleNamespace:
    return ns(
        governance_obligations=obligations(**overrides),
        governance_decision_id="0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11",
        governance_project="diabetes-outcomes",
        governance_gpu_resource="nvidia.com/gpu",
    )


def test_modify_pod_hook_enforces_image_limits_and_read_only_granted_mounts() -> None:
    pod = hostile_pod()
    result = modify_pod_hook(decided_spawner(), pod)

    assert result is pod
    sidecar, notebook = pod.spec.containers
    assert notebook.image == "registry.tre/notebook:2024.1@sha256:abc"
    assert notebook.resources.limits == {"cpu": "2000m", "memory": str(4 * GIB)}
    assert notebook.resources.requests == {"cpu": "2000m", "memory": "1Gi"}

    volumes = {v.name if hasattr(v, "name") else v["name"]: v for v in pod.spec.volumes}
    assert set(volumes) == {"home", "scratch", "gov-ds-hospital-episodes"}
    assert volumes["gov-ds-hospital-episodes"] == {
        "name": "gov-ds-hospital-episodes",
        "persistentVolumeClaim": {"claimName": "tre-datasets", "readOnly": True},
    }
    mounts = [
        m if isinstance(m, dict) else {"name": m.name, "mountPath": m.mount_path}
        for m in notebook.volume_mounts
    ]
    assert {"name": "home", "mountPath": "/home/jovyan"} in mounts
    assert {
        "name": "gov-ds-hospital-episodes",
        "mountPath": "/data/hospital-episodes",
        "readOnly": True,
        "subPath": "hospital-episodes/v3",
    } in mounts
    assert len(mounts) == 2  # the other dataset and the mount shadowing the dataset are gone
    assert sidecar.volume_mounts == []

    assert pod.metadata.labels["five-safes/egress"] == "none"
    assert pod.metadata.labels["five-safes/decision-id"] == "0b7c6f1e-2f0a-4c55-9a8e-1f6b0c9d2e11"
    assert pod.metadata.labels["component"] == "singleuser-server"
    assert "five-safes/expires-at" in pod.metadata.annotations
    assert 8 * 3600 - 60 < pod.spec.active_deadline_seconds <= 8 * 3600


def test_modify_pod_hook_grants_exactly_the_decided_gpus() -> None:
    pod = hostile_pod()
    modify_pod_hook(decided_spawner(gpu_limit=1, cpu_limit=0.5), pod)
    notebook = pod.spec.containers[1]
    assert notebook.resources.limits == {"cpu": "500m", "memory": str(4 * GIB), "nvidia.com/gpu": "1"}
    assert notebook.resources.requests["nvidia.com/gpu"] == "1"
    assert notebook.resources.requests["cpu"] == "500m"


def test_modify_pod_hook_refuses_without_a_decision_or_after_expiry() -> None:
    with pytest.raises(RuntimeError, match="no governance decision"):
        modify_pod_hook(ns(), hostile_pod())
    expired = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    with pytest.raises(RuntimeError, match="expired"):
        modify_pod_hook(decided_spawner(expires_at=expired), hostile_pod())


def test_volume_sources_are_read_only_and_unknown_schemes_refused() -> None:
    assert volume_source("nfs://filer.tre/exports/census") == (
        {"nfs": {"server": "filer.tre", "path": "/exports/census", "readOnly": True}},
        None,
    )
    for bad in (
        "s3://bucket/x",
        "hostpath:///etc",
        "pvc://Bad_Claim",
        "pvc://claim/../../etc",
        "nfs://filer",
    ):
        with pytest.raises(ValueError):
            volume_source(bad)
