"""Single-user server stand-in for the hub end-to-end tests.

Records the variables the launch put in its environment (GOVERNANCE_*, the hub's user and server name,
the resource limits) to E2E_ENV_DIR/<user>--<server or "default">.json, readable by its owner only since
GOVERNANCE_TOKEN is a secret, then becomes JupyterHub's mock single-user server, which answers any path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RECORDED = ("JUPYTERHUB_USER", "JUPYTERHUB_SERVER_NAME", "CPU_LIMIT", "MEM_LIMIT")


def record_environment() -> Path:
    user = os.environ["JUPYTERHUB_USER"]
    server = os.environ.get("JUPYTERHUB_SERVER_NAME") or "default"
    recorded = {k: v for k, v in os.environ.items() if k.startswith("GOVERNANCE_") or k in RECORDED}
    target = Path(os.environ["E2E_ENV_DIR"]) / f"{user}--{server}.json"
    partial = target.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(recorded, out, sort_keys=True)
    os.replace(partial, target)  # the test never reads a half-written file
    return target


def main() -> None:
    record_environment()
    # Replace this process, so the hub's signals reach the server itself.
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub.tests.mocksu"])  # noqa: S606 - fixed argv


if __name__ == "__main__":
    main()
