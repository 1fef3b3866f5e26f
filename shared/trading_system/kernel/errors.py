"""Domain and application errors.

Every error carries what an API client needs to fix the request; the HTTP layer turns them into
RFC 9457 problem documents without knowing the individual error types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (field or row) and why."""

    reason: str
    field: str | None = None
    row: int | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        if self.row is not None:
            out["row"] = self.row
        if self.value is not None:
            out["value"] = self.value if isinstance(self.value, (int, float, bool)) else str(self.value)
        return out


@dataclass
class DomainError(Exception):
    """Base of the errors the platform raises on purpose."""

    detail: str
    problems: list[Problem] = field(default_factory=list)
    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"
    extensions: dict[str, Any] = field(default_factory=dict)  # extra members of the problem document

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        lines = [self.detail]
        lines += [_describe(p) for p in self.problems]
        return "\n".join(lines)


def _describe(problem: Problem) -> str:
    where = []
    if problem.row is not None:
        where.append(f"row {problem.row}")
    if problem.field is not None:
        where.append(problem.field)
    prefix = ", ".join(where)
    return f"  - {prefix}: {problem.reason}" if prefix else f"  - {problem.reason}"


class ValidationFailed(DomainError):
    def __init__(self, detail: str, problems: list[Problem] | None = None, total: int | None = None):
        super().__init__(detail, problems or [], 422, "Validation failed", "validation-failed")
        self.total = total if total is not None else len(self.problems)


class NotFound(DomainError):
    def __init__(self, detail: str, field: str | None = None):
        problems = [Problem(detail, field=field)] if field else []
        super().__init__(detail, problems, 404, "Not found", "not-found")


class Conflict(DomainError):
    def __init__(self, detail: str):
        super().__init__(detail, [], 409, "Conflict", "conflict")


class Unauthorized(DomainError):
    def __init__(self, detail: str = "a valid API key is required"):
        super().__init__(detail, [], 401, "Unauthorized", "unauthorized")


class Forbidden(DomainError):
    def __init__(self, detail: str):
        super().__init__(detail, [], 403, "Forbidden", "forbidden")


class TooLarge(DomainError):
    def __init__(self, detail: str):
        super().__init__(detail, [], 413, "Payload too large", "payload-too-large")


class RateLimited(DomainError):
    """Too many requests from one source (a webhook beyond its rate): try again after
    `retry_after_s` seconds, which the HTTP layer sends as Retry-After."""

    def __init__(self, detail: str, retry_after_s: int):
        super().__init__(detail, [], 429, "Too many requests", "too-many-requests")
        self.retry_after_s = retry_after_s


class ConcurrencyConflict(Conflict):
    """A conditional write lost a race: the caller may reload and retry."""


def describe_failure(error: Exception) -> str:
    """A failure as a job records it: a domain error's own words, anything else with its type."""
    if isinstance(error, DomainError):
        return str(error)
    return f"{type(error).__name__}: {error}"
