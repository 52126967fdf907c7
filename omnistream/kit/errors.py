"""Problem details (RFC 9457): every error the API returns has this shape."""

from __future__ import annotations

from typing import Any, Self

PROBLEM_JSON = "application/problem+json"
# Stable `type`s of field errors raised by the services (docs/errors.md).
TAKEN = "taken"  # a unique value another record has
NOT_SET = "not_set"  # a setting the action needs is empty
_BASE = "urn:omnistream:problem:"


class AppError(Exception):
    """An expected failure with an HTTP status and a stable problem type."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def field(cls, field: str, message: str, kind: str | None = None) -> Self:
        """An error about one input field, named the way validation errors are; `kind` is
        the item's stable `type` (docs/errors.md) that clients translate by."""
        item = {"field": field, "message": message, **({"type": kind} if kind else {})}
        return cls(f"{field}: {message}", errors=[item])

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem(
            self.status, self.slug, self.title, self.detail, instance, self.errors, self.extra
        )


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": _BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(AppError):
    status, slug, title = 422, "validation", "Invalid input"


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class Unavailable(AppError):
    status, slug, title = 503, "unavailable", "Temporarily unavailable"
