"""A small driver for the output-request API, in the words of the workflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.conftest import TokenFor

BASE = "/api/v1/output-requests"
CONTEXT = "Admissions per year for the cohort, from the hospital-episodes extract."
CONTROLS = "Counts rounded to the nearest 5; no cell below 10."
GOOD_CSV = b"year,admissions\n2019,125\n2020,140\n2021,155\n"


@dataclass
class Api:
    client: TestClient
    token_for: TokenFor

    def h(self, user: str) -> dict[str, str]:
        return self.token_for(user)

    def create(
        self, user: str = "alice", project: str = "diabetes-outcomes", title: str = "Table 1"
    ) -> httpx.Response:
        return self.client.post(BASE, json={"project": project, "title": title}, headers=self.h(user))

    def new(self, user: str = "alice", **kwargs: Any) -> str:
        response = self.create(user, **kwargs)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def upload(
        self,
        request_id: str,
        name: str = "table.csv",
        data: bytes = GOOD_CSV,
        user: str = "alice",
        context: str | None = CONTEXT,
        controls: str | None = CONTROLS,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> httpx.Response:
        form = {
            k: v for k, v in {"context": context, "controls": controls, **fields}.items() if v is not None
        }
        return self.client.post(
            f"{BASE}/{request_id}/files",
            data=form,
            files={"file": (name, data, "application/octet-stream")},
            headers={**self.h(user), **(headers or {})},
        )

    def add(self, request_id: str, name: str = "table.csv", data: bytes = GOOD_CSV, **kwargs: Any) -> str:
        response = self.upload(request_id, name, data, **kwargs)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def raw_upload(
        self, request_id: str, filename: bytes, data: bytes, user: str = "alice"
    ) -> httpx.Response:
        """A hand-built multipart body, for names a client library would escape."""
        body = (
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="'
            + filename
            + b'"\r\n\r\n'
            + data
            + b"\r\n--zz--\r\n"
        )
        return self.client.post(
            f"{BASE}/{request_id}/files",
            content=body,
            headers={**self.h(user), "Content-Type": "multipart/form-data; boundary=zz"},
        )

    def upload_acro(self, request_id: str, zip_path: Path, user: str = "alice") -> httpx.Response:
        return self.client.post(
            f"{BASE}/{request_id}/acro-sessions",
            data={"context": CONTEXT, "controls": CONTROLS},
            files={"file": (zip_path.name, zip_path.read_bytes(), "application/zip")},
            headers=self.h(user),
        )

    def post(self, request_id: str, action: str, user: str = "alice", body: Any = None) -> httpx.Response:
        return self.client.post(f"{BASE}/{request_id}/{action}", json=body, headers=self.h(user))

    def submit(self, request_id: str, user: str = "alice") -> dict[str, Any]:
        """Submit, then read the request again: the response to submit is built before the request's
        transaction commits, so it says "submitted"; the checks run after that commit (inline here)."""
        response = self.post(request_id, "submit", user)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "submitted", response.text
        return self.get(request_id, user)

    def get(self, request_id: str, user: str = "alice") -> dict[str, Any]:
        response = self.client.get(f"{BASE}/{request_id}", headers=self.h(user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def vote(
        self, request_id: str, file_id: str, user: str, vote: str = "approve", **body: Any
    ) -> httpx.Response:
        return self.client.post(
            f"{BASE}/{request_id}/files/{file_id}/reviews", json={"vote": vote, **body}, headers=self.h(user)
        )

    def approve_all(self, request_id: str, users: tuple[str, ...] = ("olivia", "oscar")) -> dict[str, Any]:
        for file in self.get(request_id, users[0])["files"]:
            for user in users:
                justification = "Reviewed the flagged cells: safe." if file["status"] == "fail" else ""
                response = self.vote(request_id, file["id"], user, justification=justification)
                assert response.status_code == 201, response.text
        return self.get(request_id, users[0])

    def content(self, request_id: str, file_id: str, user: str | dict[str, str]) -> httpx.Response:
        headers = self.h(user) if isinstance(user, str) else user
        return self.client.get(f"{BASE}/{request_id}/files/{file_id}/content", headers=headers)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    return body
