"""Errors of the Keycloak directory sync (a light module: the worker imports it to configure retries)."""

from __future__ import annotations

from governance.core.errors import ServiceUnavailable


class KeycloakSyncError(ServiceUnavailable):
    """The sync cannot run: misconfigured, not authorised, or Keycloak answered with an error."""


class KeycloakUnreachable(KeycloakSyncError):
    """Keycloak could not be reached (connection refused, timeout, 5xx): worth retrying later."""
