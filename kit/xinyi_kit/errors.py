"""Domain errors: each names its gRPC status and carries a sentence a person can act on."""

from __future__ import annotations

import grpc


class DomainError(Exception):
    """`problem_code` names the condition for clients that act on it (e.g. "totp_required")."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, problem_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.problem_code = problem_code


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Aborted(DomainError):
    """A lost race: the caller may retry."""

    code = grpc.StatusCode.ABORTED


class Unavailable(DomainError):
    """A retryable fault of a dependency (database, broker). Its problem code tells callers
    the sentence is the service's own, not a transport's."""

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, *, problem_code: str = "unavailable") -> None:
        super().__init__(message, problem_code=problem_code)


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next may succeed."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, problem_code="rate_limited")
        self.retry_after = retry_after
