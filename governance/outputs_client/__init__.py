"""`governance-outputs`: the workspace-side client for output requests (standard library + httpx).

Installed in user workspaces without the governance service; imports no other `governance.*` module.
"""

from governance.outputs_client.api import ApiError, ConfigError, OutputsClient, Settings, settings_from_env

__all__ = ["ApiError", "ConfigError", "OutputsClient", "Settings", "settings_from_env"]
