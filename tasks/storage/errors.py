"""The storage's typed errors: one `StorageError` whose `kind` says what went wrong, and how an error is told apart.

Why a kind and not a subclass for each: the class name of an error that fails a batch is part of the text the flow
writes to the lake's failures table (``batch 00001: StorageError: put s3://…: InternalError: …``), and that text
must not change. `NotFound` is the one subclass: it is also a ``FileNotFoundError``, which the lake code catches.

`describe_error` gives the short text of an error (``not_found: key``, ``forbidden: AccessDenied``,
``InternalError: message``, ``ConnectionResetError: …``); the failures table stores it as it is, so its wording is
part of the lake.
"""

from __future__ import annotations

import asyncio
import errno
from enum import StrEnum


class ErrorKind(StrEnum):
    """What kind of failure a `StorageError` is."""

    NOT_FOUND = "not_found"                      # no object has that key
    PRECONDITION_FAILED = "precondition_failed"  # a conditional write lost (412): the object is not what we expected
    TRANSIENT = "transient"                      # worth another try later (5xx, throttling, a reset); retries spent
    TOO_LARGE = "too_large"                      # refused before reading its body: larger than the caller's limit
    FORBIDDEN = "forbidden"                      # credentials refused (403)
    OTHER = "error"                              # anything else (an invalid key, a 400, a local permission)


class StorageError(OSError):
    """An operation on a store failed (message scrubbed of credentials); `kind` says how."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.OTHER) -> None:
        super().__init__(message)
        self.kind = kind

    def __str__(self) -> str:  # the message alone (OSError would show its args tuple for some constructions)
        return str(self.args[0]) if self.args else ""


class NotFound(StorageError, FileNotFoundError):  # noqa: N818 - the name says what it is, like FileNotFoundError
    """No object has that key (also a FileNotFoundError)."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.NOT_FOUND) -> None:
        super().__init__(message, ErrorKind.NOT_FOUND)


# S3 error codes of failures worth another try (besides any 5xx): throttling and server-side timeouts.
TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests", "RequestTimeout",
    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "ConditionalRequestConflict",
    "OperationAborted", "XAmzContentSHA256Mismatch",
})
# Local errno values worth another try (network filesystems: NFS, SMB, FUSE mounts).
TRANSIENT_ERRNO = frozenset({errno.EAGAIN, errno.EINTR, errno.EIO, errno.ETIMEDOUT, errno.ECONNRESET,
                             getattr(errno, "ESTALE", -1)})
FORBIDDEN_CODES = frozenset({"AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


def error_code(exc: BaseException) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a botocore ClientError; ("", 0) for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, status
    return "", 0


def is_not_found(exc: BaseException) -> bool:
    code, status = error_code(exc)
    return status == 404 or code in ("NoSuchKey", "404", "NotFound") or isinstance(exc, FileNotFoundError)


def is_precondition_failed(exc: BaseException) -> bool:
    code, status = error_code(exc)
    return status == 412 or code == "PreconditionFailed"


def is_not_implemented(exc: BaseException) -> bool:
    code, status = error_code(exc)
    return status == 501 or code == "NotImplemented"


def is_conflict(exc: BaseException) -> bool:
    """A conditional write met another one in flight (409 ConditionalRequestConflict / OperationAborted)."""
    code, status = error_code(exc)
    return code == "ConditionalRequestConflict" or status == 409


def is_transient(exc: BaseException, retry_conflicts: bool = False) -> bool:
    """Would the same request likely pass if tried again a little later?"""
    if isinstance(exc, StorageError):
        return exc.kind is ErrorKind.TRANSIENT
    code, status = error_code(exc)
    if status or code:
        if is_conflict(exc):
            return retry_conflicts
        return status >= 500 or status == 429 or code in TRANSIENT_CODES
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError, IncompleteReadError, ResponseStreamingError, SSLError

    if isinstance(exc, SSLError):  # a certificate problem does not go away by retrying
        return False
    if isinstance(exc, HTTPClientError | BotoConnectionError | IncompleteReadError | ResponseStreamingError
                  | asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNO


def classify(exc: BaseException) -> ErrorKind:
    """The kind of an error raised by a client or the filesystem."""
    if isinstance(exc, StorageError):
        return exc.kind
    code, status = error_code(exc)
    if is_not_found(exc):
        return ErrorKind.NOT_FOUND
    if is_precondition_failed(exc):
        return ErrorKind.PRECONDITION_FAILED
    if status == 403 or code in FORBIDDEN_CODES:
        return ErrorKind.FORBIDDEN
    if is_transient(exc, retry_conflicts=True):
        return ErrorKind.TRANSIENT
    return ErrorKind.OTHER


def describe_error(exc: BaseException, key: str | None = None) -> str:
    """A short error text: not_found / forbidden / <code or class>: message."""
    code, status = error_code(exc)
    if is_not_found(exc):
        return f"not_found: {key}" if key is not None else f"not_found: {exc}"
    if status == 403 or code in FORBIDDEN_CODES:
        return f"forbidden: {code or status}"
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}".strip()
    return f"{type(exc).__name__}: {exc}"


def storage_error(exc: BaseException, text: str) -> StorageError:
    """`exc` as a typed error with the (already scrubbed) text: NotFound for a missing object."""
    kind = classify(exc)
    return NotFound(text) if kind is ErrorKind.NOT_FOUND else StorageError(text, kind)
