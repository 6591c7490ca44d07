"""Every domain router the application mounts, in one list."""

from __future__ import annotations

from fastapi import APIRouter

from governance.projects.endpoints import router as projects

ROUTERS: list[APIRouter] = [projects]
