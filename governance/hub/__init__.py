"""JupyterHub side of Five Safes governance: hooks for jupyterhub_config.py.

Depends only on the standard library, httpx and JupyterHub (with tornado), so it can be installed in
a hub image without the governance service. Nothing here imports other `governance.*` modules.

    from governance.hub import make_pre_spawn_hook, make_options_form, options_from_form, modify_pod_hook
    c.Spawner.pre_spawn_hook = make_pre_spawn_hook()
    c.Spawner.options_form = make_options_form()
    c.Spawner.options_from_form = options_from_form
    c.KubeSpawner.modify_pod_hook = modify_pod_hook  # KubeSpawner only
"""

from governance.hub.client import UNAVAILABLE_MESSAGE, GovernanceClient, GovernanceUnavailable
from governance.hub.kube import modify_pod_hook
from governance.hub.options import (
    InvalidOptions,
    make_options_form,
    options_form,
    options_from_form,
    validate_user_options,
)
from governance.hub.spawn_hooks import make_pre_spawn_hook

__all__ = [
    "UNAVAILABLE_MESSAGE",
    "GovernanceClient",
    "GovernanceUnavailable",
    "InvalidOptions",
    "make_options_form",
    "make_pre_spawn_hook",
    "modify_pod_hook",
    "options_form",
    "options_from_form",
    "validate_user_options",
]
