"""JupyterHub configuration for the end-to-end tests: the deployment's own config, plus what a test needs.

Loaded by tests/harness/jupyterhub_proc.py (which pins addresses, proxy, database and secrets). It loads
deploy/jupyterhub/jupyterhub_config.py unchanged, so the governance hooks, the governance service
account and its revocation role are exactly those of a deployment; then it adds:

- a `e2e-driver` service (token E2E_DRIVER_TOKEN) that creates users and their tokens, and reads and
  stops servers, as the test's hands;
- the single-user stand-in (E2E_STANDIN), which records its environment under E2E_ENV_DIR and then
  serves JupyterHub's mock single-user server, so a launch takes about a second;
- short time-outs, home directories under E2E_ENV_DIR and room for more named servers.
"""

import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub when loading

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub" / "jupyterhub_config.py"
if not DEPLOY_CONFIG.is_file():  # load_subconfig silently skips a missing file
    sys.exit(f"hub_config: {DEPLOY_CONFIG} is missing")
load_subconfig(str(DEPLOY_CONFIG))  # type: ignore[name-defined]  # noqa: F821

env_dir = os.environ["E2E_ENV_DIR"]
c.JupyterHub.services = [
    *c.JupyterHub.services,
    {"name": "e2e-driver", "api_token": os.environ["E2E_DRIVER_TOKEN"]},
]
c.JupyterHub.load_roles = [
    *c.JupyterHub.load_roles,
    {
        "name": "e2e-driver",
        "scopes": ["admin:users", "admin:servers", "tokens"],
        "services": ["e2e-driver"],
    },
]

c.Spawner.cmd = [sys.executable, os.environ["E2E_STANDIN"]]
c.Spawner.environment = {"E2E_ENV_DIR": env_dir}
c.SimpleLocalProcessSpawner.home_dir_template = str(Path(env_dir) / "home" / "{username}")
c.Spawner.start_timeout = 30
c.Spawner.http_timeout = 20
c.JupyterHub.cleanup_servers = True
# Stopped and refused named servers count towards the deployment's limit of 3; the story uses more names.
c.JupyterHub.named_server_limit_per_user = 10
