"""Service settings: one class, read from the environment (prefix GOVERNANCE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY_SECRET = "dev-only-not-a-secret"  # noqa: S105 - refused outside GOVERNANCE_ENV=dev
# Keycloak group paths (leading "/") and realm role names -> governance roles.
DEFAULT_KEYCLOAK_SYNC_MAPPING: dict[str, str] = {
    "/stewards": "data_steward",
    "/output-checkers": "output_checker",
    "/auditors": "auditor",
    "/researchers": "researcher",
    "/admins": "admin",
    "data_steward": "data_steward",
    "output_checker": "output_checker",
    "auditor": "auditor",
    "researcher": "researcher",
    "admin": "admin",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", extra="ignore")

    env: Literal["dev", "test", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'governance.db'}"
    base_url: str = "http://127.0.0.1:8000"

    secret_key: str = ""
    dev_login: bool = False

    oidc_issuer: str | None = None
    oidc_audience: str = "governance-api"
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
    )
    oidc_jwks_cache_seconds: int = 300
    oidc_provision_users: bool = True

    api_token_max_hours: int = 24 * 90
    approvals_by_tier: dict[int, int] = Field(default_factory=lambda: {0: 1, 1: 1, 2: 2, 3: 2, 4: 2})

    policy_dir: Path = REPO_ROOT / "policies"
    required_accreditation_kind: str = "safe-researcher"
    mfa_tier: int = 3

    broker_url: str | None = None
    jobs_inline: bool = True

    sweep_seconds: float = 30.0

    hub_api_url: str | None = None
    hub_api_token: str = ""

    log_level: str = "INFO"
    json_logs: bool = True
    metrics_token: str = ""  # when set, GET /metrics needs it as a bearer token
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    # Browser login for the service's pages (authorization code + PKCE against GOVERNANCE_OIDC_ISSUER)
    oidc_web_client_id: str = "governance-web"
    oidc_web_client_secret: str = ""
    oidc_redirect_url: str | None = None  # default {base_url}/auth/callback
    oidc_web_scopes: str = "openid profile email"
    session_cookie_name: str = "governance_session"
    session_cookie_secure: bool = True  # False only with GOVERNANCE_ENV=dev|test over plain http
    session_hours: float = 8.0

    # Directory sync from Keycloak (python-keycloak admin client, client-credentials service account)
    keycloak_url: str | None = None
    keycloak_realm: str = "five-safes"
    keycloak_issuer: str | None = None  # default {keycloak_url}/realms/{keycloak_realm}
    keycloak_sync_client_id: str = "governance-sync"
    keycloak_sync_client_secret: str = ""
    keycloak_sync_mapping: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_KEYCLOAK_SYNC_MAPPING))
    keycloak_sync_seconds: float = 300.0
    keycloak_sync_page_size: int = Field(500, ge=1, le=5000)
    keycloak_timeout_seconds: float = 10.0

    # SAML service provider (pysaml2); IdP metadata from a URL or a file
    saml_idp_metadata_url: str | None = None
    saml_idp_metadata_file: Path | None = None
    saml_sp_entity_id: str | None = None  # default {base_url}/saml/metadata
    saml_idp_entity_id: str | None = None  # needed only when the metadata names several IdPs
    saml_sp_key_file: Path | None = None
    saml_sp_cert_file: Path | None = None
    saml_want_response_signed: bool = True
    saml_want_assertions_signed: bool = True
    saml_request_max_age_seconds: int = 600
    saml_xmlsec_binary: str | None = None

    # Safe Outputs: encrypted file store, key-encryption keys, malware scanner, risk profiles, check jobs
    output_store_dir: Path = REPO_ROOT / "var" / "outputs"
    kek_keys: dict[str, str] = Field(default_factory=dict)  # {version: base64(32 bytes)}; production needs it
    kek_current: str | None = None  # default: the highest version in kek_keys
    clamd_address: str | None = None  # unix socket path, unix:///path, host:port or tcp://host:port
    clamd_timeout_seconds: float = 60.0
    clamd_max_stream_bytes: int = 25 * 1024 * 1024  # must match clamd's StreamMaxLength
    risk_profile_file: Path = REPO_ROOT / "policies" / "output_checks.toml"
    output_retry_seconds: float = 60.0  # beat: how often held or stalled check runs are retried
    output_stale_seconds: float = 1800.0  # a check run silent this long is presumed dead and re-run
    output_check_delay_seconds: float = Field(0.0, ge=0)  # tests only: sleep before each check

    # Audit log: signed checkpoints (Ed25519) and the sealer that chains committed events
    audit_signing_key: str = ""  # base64 of the 32 raw bytes, or PEM; dev/test derive a stable key
    audit_checkpoint_every_n: int = Field(1000, ge=1)
    audit_checkpoint_every_seconds: float = Field(60.0, gt=0)
    # "auto": a thread in the API process when there is no broker (Celery beat runs "audit.seal" otherwise),
    # never in tests unless asked for; "thread" always; "off" never (run `governance audit seal` yourself).
    audit_sealer: Literal["auto", "thread", "off"] = "auto"
    audit_seal_interval_seconds: float = Field(0.25, gt=0, le=60)
    audit_seal_batch: int = Field(2000, ge=1, le=50_000)
    audit_verify_workers: int = Field(2, ge=1, le=64)  # processes for long verifications

    # Key-encryption keys written by `governance keys rotate` (merged with GOVERNANCE_KEK_KEYS);
    # default var/keys/kek.json with GOVERNANCE_ENV=dev, none otherwise unless set.
    kek_file: Path | None = None

    # OpenTelemetry tracing: "console", or an OTLP/HTTP endpoint such as http://127.0.0.1:4318
    otel_exporter: str | None = None
    otel_service_name: str = "five-safes-governance"

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "dev":
            if self.dev_login:
                raise ValueError(
                    "GOVERNANCE_DEV_LOGIN is enabled but GOVERNANCE_ENV is not 'dev': dev login mints tokens "
                    "for anyone and is refused outside development"
                )
            if self.env == "production" and self.secret_key == DEV_ONLY_SECRET:
                raise ValueError("GOVERNANCE_SECRET_KEY must be set to a random value in production")
        if not self.secret_key and self.env != "production":
            self.secret_key = DEV_ONLY_SECRET
        return self

    def production_problems(self) -> list[str]:
        """What stops this configuration from serving in production (the service refuses to start)."""
        problems = []
        if self.env == "production" and len(self.secret_key) < 32:
            problems.append("GOVERNANCE_SECRET_KEY must be set to a random value of at least 32 characters")
        if self.env == "production":
            problems.extend(self._audit_signing_problems())
        return problems

    def _audit_signing_problems(self) -> list[str]:
        if not self.audit_signing_key.strip():
            return [
                "GOVERNANCE_AUDIT_SIGNING_KEY must be set (an Ed25519 private key: base64 of 32 random "
                "bytes, or PEM; `governance audit keygen` makes one): audit checkpoints are signed with it"
            ]
        from governance.audit.checkpoints import load_private_key

        try:
            load_private_key(self.audit_signing_key)
        except ValueError as exc:
            return [f"GOVERNANCE_AUDIT_SIGNING_KEY: {exc}"]
        return []

    @property
    def kek_file_path(self) -> Path | None:
        if self.kek_file is not None:
            return self.kek_file
        return REPO_ROOT / "var" / "keys" / "kek.json" if self.env == "dev" else None

    @model_validator(mode="after")
    def _refuse_unsafe_identity(self) -> Settings:
        if not self.session_cookie_secure and (
            self.env == "production" or not self.base_url.startswith("http://")
        ):
            raise ValueError(
                "GOVERNANCE_SESSION_COOKIE_SECURE=false is allowed only with GOVERNANCE_ENV=dev or test "
                "and a plain-http GOVERNANCE_BASE_URL: session cookies must otherwise be Secure"
            )
        return self

    @model_validator(mode="after")
    def _refuse_test_only_output_settings(self) -> Settings:
        if self.env == "production" and self.output_check_delay_seconds:
            raise ValueError("GOVERNANCE_OUTPUT_CHECK_DELAY_SECONDS is refused in production (tests only)")
        return self

    @property
    def oidc_web_redirect_url(self) -> str:
        return self.oidc_redirect_url or f"{self.base_url.rstrip('/')}/auth/callback"

    @property
    def saml_entity_id(self) -> str:
        return self.saml_sp_entity_id or f"{self.base_url.rstrip('/')}/saml/metadata"

    @property
    def keycloak_realm_issuer(self) -> str | None:
        if self.keycloak_issuer:
            return self.keycloak_issuer.rstrip("/")
        if not self.keycloak_url:
            return None
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.keycloak_realm}"

    def approvals_required(self, tier: int) -> int:
        return self.approvals_by_tier.get(tier, max(self.approvals_by_tier.values(), default=1))

    # Safe Outputs: each file's automated checks run in a child process under these limits
    # (governance/outputs/check_process.py); a check that exceeds them gets an "error" result.
    output_check_memory_bytes: int = Field(2 * 1024**3, ge=512 * 1024**2)  # address space (RLIMIT_AS)
    output_check_timeout_seconds: float = Field(120.0, gt=0)  # wall time per check

    # Safe People: whose word counts for a second factor in launch decisions. When true, a profile or tier
    # that requires MFA is satisfied only by the user's own verified access token (`user_token`, its
    # amr/acr), never by the hub's `auth` assertion. Default: true in production, false otherwise.
    mfa_from_user_token_only: bool | None = None
    # Safe People: the data-use agreement version people sign on /me (and the demo seed signs).
    agreement_version: str = Field("2026.1", min_length=1, max_length=64)

    @property
    def mfa_needs_user_token(self) -> bool:
        if self.mfa_from_user_token_only is not None:
            return self.mfa_from_user_token_only
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
