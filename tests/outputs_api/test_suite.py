"""The check keys the API counts are the checks the worker runs; the API process stays light."""

from __future__ import annotations

import subprocess
import sys

import governance.outputs.checks as checks
from governance.outputs.checks.registry import default_checks
from governance.outputs.suite import CONTENT_CHECKS


def test_the_listed_check_keys_match_the_checks() -> None:
    assert [(c.name, c.version) for c in default_checks()] == list(CONTENT_CHECKS)


def test_the_lazy_check_package_exports_what_it_lists() -> None:
    assert set(checks.__all__) == set(checks._WHERE)
    for name in checks.__all__:
        assert getattr(checks, name) is not None


def test_the_application_does_not_load_arrow() -> None:
    code = (
        "import sys; from governance.config import Settings; from governance.app import create_app; "
        "create_app(Settings(env='test', database_url='sqlite://'), check_schema=False); "
        "print('pyarrow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
