"""The API's errors: each maps to one HTTP status and one stable error code."""

from __future__ import annotations


class ApiError(Exception):
    """An error the API answers with `{"error": code, "message": message}`."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class SSHFailure(ApiError):
    """Any failure talking to the SSH host (502 unless a subclass says otherwise)."""

    status = 502
    code = "ssh_error"


class SSHAuthFailed(SSHFailure):
    code = "ssh_auth_failed"


class SSHConnectionRefused(SSHFailure):
    code = "ssh_connection_refused"


class SSHHostKeyMismatch(SSHFailure):
    code = "ssh_host_key_mismatch"


class SSHTimeout(SSHFailure):
    status = 504
    code = "ssh_timeout"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class TooLarge(ApiError):
    status = 413
    code = "body_too_large"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class OutputTooLarge(SSHFailure):
    """The command's stdout + stderr passed the output cap; the channel (or `ssh`) was
    closed without reading the rest."""

    code = "output_too_large"
