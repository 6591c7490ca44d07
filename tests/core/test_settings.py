from __future__ import annotations

import pytest
from pydantic import ValidationError

from governance.config import Settings
from governance.core.db import normalise_url


def test_dev_login_refused_outside_dev() -> None:
    with pytest.raises(ValidationError, match="dev login"):
        Settings(env="production", dev_login=True, secret_key="s" * 32)


def test_production_needs_a_real_secret() -> None:
    from governance.app import UnsafeConfiguration, create_app

    with pytest.raises(UnsafeConfiguration, match="GOVERNANCE_SECRET_KEY"):
        create_app(Settings(env="production"), check_schema=False)
    with pytest.raises(ValidationError, match="GOVERNANCE_SECRET_KEY"):
        Settings(env="production", secret_key="dev-only-not-a-secret")
    signing_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # base64 of 32 bytes (an Ed25519 seed)
    assert (
        Settings(env="production", secret_key="k" * 40, audit_signing_key=signing_key).production_problems()
        == []
    )


def test_plain_database_urls_pick_our_driver() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("postgres://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert normalise_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
