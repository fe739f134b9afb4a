"""Errors the emulator answers in AWS's shape (see model.serialize_error for the wire form)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: `x-amzn-ErrorType: <code>` and a JSON body with Message plus modelled fields.

    `status` is only given for codes that the service model does not define (ThrottlingException,
    UnknownOperationException, ...); modelled codes take their HTTP status from the model.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequestException", message)


def not_found(resource_name: str, identifier: object) -> ApiError:
    return ApiError(
        "ResourceNotFoundException", f"{resource_name} {identifier} not found", ResourceName=resource_name
    )


def conflict(message: str) -> ApiError:
    return ApiError("ConflictException", message)


def quota_exceeded(message: str) -> ApiError:
    return ApiError("ServiceQuotaExceededException", message)


def internal_error(message: str = "The emulator failed to handle the request") -> ApiError:
    return ApiError("InternalServerException", message)


def throttled() -> ApiError:
    # Not in AppConfig's model, but every AWS SDK recognises it as a throttling error and retries it.
    return ApiError("ThrottlingException", "Rate exceeded", status=429)
