"""Domain errors carry their HTTP status; one handler renders RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://five-safes.dev/problems/"


class DomainError(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.code


class NotAuthenticated(DomainError):
    status, code, title = 401, "not-authenticated", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class IllegalTransition(Conflict):
    code, title = "illegal-transition", "Illegal state transition"


class DuplicateError(Conflict):
    code, title = "duplicate", "Already exists"


class SeparationOfDuties(DomainError):
    status, code, title = 403, "separation-of-duties", "Separation of duties"


class InvalidInput(DomainError):
    status, code, title = 400, "invalid-input", "Invalid input"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "unavailable", "Service unavailable"
