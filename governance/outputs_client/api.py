"""Calls to the governance service's output-request API, for use inside a workspace.

Standard library and httpx only. Every failure becomes ApiError(title, detail): RFC 9457 problem
documents give their own title/detail; transport failures get a plain description. The token is sent
as a Bearer header and never appears in messages or reprs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import quote

import httpx

ProgressCallback = Callable[[int, int], None]  # (bytes sent, total bytes)


class ApiError(Exception):
    def __init__(self, title: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.title = title
        self.detail = detail
        self.status = status


class ConfigError(Exception):
    """The environment does not say where the service is or how to authenticate."""


@dataclass(frozen=True)
class Settings:
    base_url: str
    token: str = field(repr=False)
    project: str | None = None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    url = env.get("GOVERNANCE_URL", "").strip()
    token = env.get("GOVERNANCE_TOKEN", "").strip()
    missing = [name for name, value in (("GOVERNANCE_URL", url), ("GOVERNANCE_TOKEN", token)) if not value]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. These are set "
            "automatically in a TRE workspace; if you are in one, restart your server."
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError("GOVERNANCE_URL must start with http:// or https://")
    return Settings(url.rstrip("/"), token, env.get("GOVERNANCE_PROJECT", "").strip() or None)


class _ProgressReader:
    """A binary file that reports how much of it has been read; httpx streams it in chunks."""

    def __init__(self, raw: IO[bytes], total: int, callback: ProgressCallback) -> None:
        self._raw, self._total, self._callback, self._sent = raw, total, callback, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._sent += len(chunk)
        self._callback(self._sent, self._total)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)
        self._sent = position
        return position

    def tell(self) -> int:
        return self._raw.tell()

    def fileno(self) -> int:
        return self._raw.fileno()


def _segment(value: str) -> str:
    return quote(value, safe="")


class OutputsClient:
    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {settings.token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
        )

    def __enter__(self) -> OutputsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_request(self, project: str, title: str) -> dict[str, Any]:
        return self._object(
            self._send("POST", "/api/v1/output-requests", json={"project": project, "title": title})
        )

    def upload_file(
        self,
        request_id: str,
        path: Path,
        *,
        context: str,
        controls: str,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        total = path.stat().st_size
        with path.open("rb") as raw:
            body = _ProgressReader(raw, total, progress or (lambda sent, total: None))
            return self._object(
                self._send(
                    "POST",
                    f"/api/v1/output-requests/{_segment(request_id)}/files",
                    data={"context": context, "controls": controls},
                    files={"file": (path.name, cast(IO[bytes], body), "application/octet-stream")},
                )
            )

    def submit(self, request_id: str) -> dict[str, Any]:
        return self._object(self._send("POST", f"/api/v1/output-requests/{_segment(request_id)}/submit"))

    def get_request(self, request_id: str) -> dict[str, Any]:
        return self._object(self._send("GET", f"/api/v1/output-requests/{_segment(request_id)}"))

    def list_my_requests(self) -> list[dict[str, Any]]:
        body = self._json(self._send("GET", "/api/v1/output-requests", params={"mine": "true"}))
        items = body.get("items", body.get("data")) if isinstance(body, dict) else body
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ApiError("Unexpected answer from the governance service", "the list is not understood")
        return items

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiError("The governance service did not answer in time", "try again later") from None
        except httpx.HTTPError as exc:
            raise ApiError("Could not reach the governance service", str(exc) or type(exc).__name__) from None
        if response.status_code >= 300:
            raise _problem(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content) if response.content else {}
        except ValueError:
            raise ApiError(
                "Unexpected answer from the governance service", "the response is not JSON"
            ) from None

    @classmethod
    def _object(cls, response: httpx.Response) -> dict[str, Any]:
        body = cls._json(response)
        if not isinstance(body, dict):
            raise ApiError("Unexpected answer from the governance service", "the response is not understood")
        return body


def _problem(response: httpx.Response) -> ApiError:
    title, detail = response.reason_phrase or f"HTTP {response.status_code}", ""
    try:
        problem = json.loads(response.content)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        if isinstance(problem.get("title"), str) and problem["title"]:
            title = problem["title"]
        if isinstance(problem.get("detail"), str):
            detail = problem["detail"]
        elif isinstance(problem.get("detail"), list):  # a framework's 422 validation list
            detail = "; ".join(
                str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                for item in problem["detail"]
            )
    return ApiError(title, detail[:2000], response.status_code)
