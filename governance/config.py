"""Service settings: one class, read from the environment (prefix GOVERNANCE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY_SECRET = "dev-only-not-a-secret"  # noqa: S105 - refused outside GOVERNANCE_ENV=dev


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
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"])
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

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "dev":
            if self.dev_login:
                raise ValueError(
                    "GOVERNANCE_DEV_LOGIN is enabled but GOVERNANCE_ENV is not 'dev': dev login mints tokens "
                    "for anyone and is refused outside development"
                )
            if self.env == "production" and (not self.secret_key or self.secret_key == DEV_ONLY_SECRET):
                raise ValueError("GOVERNANCE_SECRET_KEY must be set to a random value in production")
        if not self.secret_key:
            self.secret_key = DEV_ONLY_SECRET
        return self

    def approvals_required(self, tier: int) -> int:
        return self.approvals_by_tier.get(tier, max(self.approvals_by_tier.values(), default=1))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
