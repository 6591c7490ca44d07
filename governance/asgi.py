"""ASGI entry point for uvicorn/gunicorn: `governance.asgi:app`."""

from governance.app import create_app

app = create_app()
