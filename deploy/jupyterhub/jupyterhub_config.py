"""JupyterHub configuration for a Five Safes Trusted Research Environment.

Every server launch is decided by the governance service (the policy decision point): the hub sends
who, which project, which environment profile, which datasets, from where and how they signed in; the
service answers allow/deny per safe plus the obligations the hub must apply (image, limits, read-only
dataset mounts, egress, environment, expiry). If the service cannot be asked, nothing starts.

Environment (required; the hub refuses to start without them):
  GOVERNANCE_URL                  base URL of the governance service as the hub reaches it
  GOVERNANCE_HUB_TOKEN            token the hub presents to the governance service (Bearer)
Environment (optional):
  GOVERNANCE_SERVICE_API_TOKEN    token the governance service uses against the Hub REST API to stop
                                  servers whose access lapsed (revocation). Without it revocation
                                  cannot stop servers, and the hub says so at start-up.
  GOVERNANCE_WORKSPACE_URL        the service's address as seen from workspaces (default GOVERNANCE_URL)
  GOVERNANCE_TRUSTED_PROXIES      comma-separated CIDRs of proxies in front of the hub whose
                                  X-Forwarded-For may be believed (loopback is always trusted)
  GOVERNANCE_MFA_ACR_VALUES       acr values that mean multi-factor sign-in, e.g. "gold,2"
  GOVERNANCE_DECISION_TIMEOUT     seconds to wait for a decision (default 5)
  HUB_AUTHENTICATOR               "keycloak" (default) or "dummy" (local development only)
  KEYCLOAK_URL, KEYCLOAK_REALM    default http://localhost:8080 and "five-safes"
  OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_CALLBACK_URL
  JUPYTERHUB_CRYPT_KEY            required by JupyterHub when auth state is enabled (keycloak mode)
"""

import os
import sys

from governance.hub import make_options_form, make_pre_spawn_hook, options_from_form

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub when loading


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"jupyterhub_config: {name} is not set; refusing to start a hub that cannot ask governance")
    return value


GOVERNANCE_URL = _required("GOVERNANCE_URL")
GOVERNANCE_HUB_TOKEN = _required("GOVERNANCE_HUB_TOKEN")
DECISION_TIMEOUT = float(os.environ.get("GOVERNANCE_DECISION_TIMEOUT", "5"))
TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("GOVERNANCE_TRUSTED_PROXIES", "").split(",") if p.strip()
]

# --- governance hooks -----------------------------------------------------------------------------
# The spawn form lists the user's active projects, their environment profiles and granted datasets.
# user_options (from the form or a REST body) are validated strictly; unknown keys are refused.
c.Spawner.options_form = make_options_form(GOVERNANCE_URL, GOVERNANCE_HUB_TOKEN, timeout=DECISION_TIMEOUT)
c.Spawner.options_from_form = options_from_form
c.Spawner.pre_spawn_hook = make_pre_spawn_hook(
    GOVERNANCE_URL, GOVERNANCE_HUB_TOKEN, timeout=DECISION_TIMEOUT, trusted_proxies=TRUSTED_PROXIES
)
# tornado's own X-Forwarded-For handling (used for the hub's logs) should skip the same proxies.
# It compares exact addresses, not CIDRs, so list single addresses here when you have them.
c.JupyterHub.trusted_downstream_ips = [p for p in TRUSTED_PROXIES if "/" not in p]

# --- the governance service's access to the Hub API (revocation) ----------------------------------
# list:users + read:users + read:servers to find running servers, delete:servers to stop them.
# Nothing else: it never starts servers or reads server state.
_service_token = os.environ.get("GOVERNANCE_SERVICE_API_TOKEN", "").strip()
if _service_token:
    c.JupyterHub.services = [{"name": "governance", "api_token": _service_token}]
    c.JupyterHub.load_roles = [
        {
            "name": "governance-revocation",
            "description": "Five Safes governance: find and stop servers whose access lapsed",
            "scopes": ["list:users", "read:users", "read:servers", "delete:servers"],
            "services": ["governance"],
        }
    ]
else:
    print(
        "jupyterhub_config: GOVERNANCE_SERVICE_API_TOKEN is not set; "
        "revoked access will not stop running servers",
        file=sys.stderr,
    )

# --- authentication: Keycloak realm "five-safes" over OIDC ----------------------------------------
if os.environ.get("HUB_AUTHENTICATOR", "keycloak") == "dummy":
    # Local development and tests only: any name signs in, there is no auth state (so no MFA).
    if os.environ.get("GOVERNANCE_ENV", "dev") == "production":
        sys.exit("jupyterhub_config: the dummy authenticator is refused when GOVERNANCE_ENV=production")
    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True
else:
    _keycloak = os.environ.get("KEYCLOAK_URL", "http://localhost:8080").rstrip("/")
    _realm = os.environ.get("KEYCLOAK_REALM", "five-safes")
    _oidc = f"{_keycloak}/realms/{_realm}/protocol/openid-connect"
    c.JupyterHub.authenticator_class = "generic-oauth"  # oauthenticator.generic.GenericOAuthenticator
    c.GenericOAuthenticator.login_service = "TRE sign-in"
    c.GenericOAuthenticator.client_id = os.environ.get("OAUTH_CLIENT_ID", "jupyterhub")
    c.GenericOAuthenticator.client_secret = _required("OAUTH_CLIENT_SECRET")
    c.GenericOAuthenticator.oauth_callback_url = os.environ.get(
        "OAUTH_CALLBACK_URL", "http://localhost:8000/hub/oauth_callback"
    )
    c.GenericOAuthenticator.authorize_url = f"{_oidc}/auth"
    c.GenericOAuthenticator.token_url = f"{_oidc}/token"
    c.GenericOAuthenticator.userdata_url = f"{_oidc}/userinfo"
    c.GenericOAuthenticator.logout_redirect_url = f"{_oidc}/logout"
    # "acr" is a Keycloak default client scope; add an AMR mapper to the client for "amr".
    c.GenericOAuthenticator.scope = ["openid", "profile", "email"]
    c.GenericOAuthenticator.username_claim = "preferred_username"
    # Signing in grants nothing by itself: every launch is decided by the governance service.
    c.GenericOAuthenticator.allow_all = True
    # Keep tokens (amr/acr for the MFA check) and refresh them before each launch.
    c.Authenticator.enable_auth_state = True
    c.Authenticator.refresh_pre_spawn = True
    c.Authenticator.auth_refresh_age = 300

# --- spawner --------------------------------------------------------------------------------------
# Development: processes on the hub's machine. This cannot enforce dataset mounts or egress (the
# hook logs a warning); use KubeSpawner for anything holding real data.
c.JupyterHub.spawner_class = "simple"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
# Each launch's obligations set the workspace environment, including GOVERNANCE_TOKEN (a secret used
# by the `governance-outputs` command) — do not log spawner environments.

# KubeSpawner variant (production). KubeSpawner applies profile_list after the pre-spawn hook, so the
# final pod is checked by modify_pod_hook: image, limits, read-only dataset volumes, labels used by
# NetworkPolicies (five-safes/egress = none|proxy|open) and activeDeadlineSeconds from expires_at.
# Do not configure KubeSpawner.profile_list: the governance form replaces it.
#
# from governance.hub import modify_pod_hook
# c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
# c.KubeSpawner.modify_pod_hook = modify_pod_hook
# c.KubeSpawner.image = "registry.internal/tre/notebook:locked"   # overridden by every decision
# c.KubeSpawner.automount_service_account_token = False
# c.KubeSpawner.allow_privilege_escalation = False
# c.KubeSpawner.uid = 1000
# c.KubeSpawner.fs_gid = 100
# c.KubeSpawner.storage_pvc_ensure = True                        # the researcher's own home volume
# c.KubeSpawner.extra_labels = {"five-safes/workspace": "true"}
# Dataset storage URIs understood by the hook: pvc://<claim>[/<sub-path>] and nfs://<server>/<path>.
# In Kubernetes the proxy runs in its own pod: set GOVERNANCE_TRUSTED_PROXIES to the pod network CIDR.

c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 3
