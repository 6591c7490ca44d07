"""Fixtures for the output-request API: a private encrypted store per test, and the real clamd and
ACRO session of the output-checking library tests (re-exported so they are generated once)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from governance.config import get_settings
from tests.conftest import TokenFor
from tests.outputs.conftest import acro_copy, acro_session, clamd  # noqa: F401 - shared with tests/outputs
from tests.outputs_api.support import Api


@pytest.fixture(autouse=True)
def store_dir(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "outputs"
    monkeypatch.setenv("GOVERNANCE_OUTPUT_STORE_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


@pytest.fixture
def api(client: TestClient, token_for: TokenFor) -> Api:
    return Api(client, token_for)


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Point the service at a copy of the risk profiles with some defaults changed."""

    def write(**defaults: int | bool) -> Path:
        text = (REPO / "policies" / "output_checks.toml").read_text()
        for key, value in defaults.items():
            rendered = str(value).lower() if isinstance(value, bool) else str(value)
            text, count = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {rendered}  ", text, count=1)
            assert count == 1, f"no default {key} in the risk profile file"
        path = tmp_path / "output_checks.toml"
        path.write_text(text)
        monkeypatch.setenv("GOVERNANCE_RISK_PROFILE_FILE", str(path))
        get_settings.cache_clear()
        return path

    return write
