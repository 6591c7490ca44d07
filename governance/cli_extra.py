"""Commands contributed by the later modules (policy, audit, identity, keys, worker)."""

from __future__ import annotations

import click


def register_extra_commands(main: click.Group) -> None:
    return None
