"""Start and stop the real external services the test-suite runs against.

Each service runs on a free 127.0.0.1 port in its own temp dir, is waited for until it answers,
and is stopped (process tree killed, temp dir removed) by `stop()`, by leaving its `with` block,
or at interpreter exit. Install the binaries first with scripts/ensure-system-deps.sh.
"""

from .chromium import dump_dom, screenshot
from .jupyterhub_proc import JupyterHubServer
from .keycloak import KeycloakServer
from .ports import free_port
from .postgres import PostgresServer
from .process import ServiceStartError
from .redis import RedisServer

__all__ = [
    "JupyterHubServer",
    "KeycloakServer",
    "PostgresServer",
    "RedisServer",
    "ServiceStartError",
    "dump_dom",
    "free_port",
    "screenshot",
]
