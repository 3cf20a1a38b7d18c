"""The storage's one retry policy: botocore's own retries for S3 requests; tenacity for what those do not cover.

Every failure is retried by exactly one layer (before, three hand-written loops ran on top of botocore's retries, so
a 5xx could be tried 4 × 5 = 20 times):

- **S3 requests** (5xx, SlowDown and the other throttling codes, RequestTimeout, connection errors, timeouts):
  botocore's ``standard`` mode: `max_attempts` retries after the first try (`S3Settings.max_attempts`,
  GOVREPORTS_S3_MAX_ATTEMPTS, default 5: botocore's config counts retries, so 6 tries), exponential backoff with
  jitter (up to 20 s), and its retry quota, which stops retrying when most requests to the server fail. `botocore_retries` is what goes into the client's config.
- **After botocore** (`ATTEMPTS` tries, tenacity, exponential backoff with jitter, 0.2 s doubling up to 10 s):
  a body that breaks off after the answer's headers came (botocore has returned by then: a reset, a short read, a
  read timeout while streaming); a conditional write meeting another in flight (409 ConditionalRequestConflict,
  OperationAborted); S3 codes botocore's standard mode leaves alone (429 TooManyRequests, RequestTimeTooSkewed,
  XAmzContentSHA256Mismatch); and on a local folder the errno values a network filesystem gives for a passing
  trouble (ESTALE, EIO, EAGAIN, EINTR, ETIMEDOUT, ECONNRESET).

A call's first attempt runs without tenacity: its retrying objects cost 13-27 µs a call here (Retrying / AsyncRetrying,
20,000 calls), as much as reading a report from the page cache; tenacity takes over at the first retryable failure
(which it counts as its first attempt, so waits and attempts are its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from tasks.storage.errors import TRANSIENT_ERRNO, error_code, is_conflict, is_transient

T = TypeVar("T")

BOTOCORE_MODE = "standard"
ATTEMPTS = 4  # tries in all, for what botocore does not retry
_WAIT = wait_random_exponential(multiplier=0.2, max=10.0)  # 0.2, 0.4, 0.8 … s, full jitter
# S3 codes of passing troubles that botocore's standard mode does not retry (it retries 500/502/503/504, throttling
# codes such as SlowDown, RequestTimeout, and connection errors).
_AFTER_BOTOCORE_CODES = frozenset({"TooManyRequests", "RequestTimeTooSkewed", "XAmzContentSHA256Mismatch"})


def botocore_retries(max_attempts: int) -> dict[str, Any]:
    """The ``retries`` entry of botocore's Config (s3fs ``config_kwargs``) for S3 requests."""
    return {"max_attempts": max_attempts, "mode": BOTOCORE_MODE}


class BodyBroken(Exception):  # noqa: N818 - a marker, never seen outside this package
    """The body of an answer broke off after botocore returned (its cause is the error): worth another GET."""


def retry_local(exc: BaseException) -> bool:
    """A local filesystem error worth another try (network filesystems)."""
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNO


def retry_s3(exc: BaseException) -> bool:
    """An S3 failure that botocore did not retry and another try may cure: a broken body, a throttling code it
    does not know."""
    if isinstance(exc, BodyBroken):
        return True
    code, status = error_code(exc)
    return status == 429 or code in _AFTER_BOTOCORE_CODES


def retry_s3_conditional(exc: BaseException) -> bool:
    """`retry_s3`, and a conditional write meeting another one in flight (409)."""
    return retry_s3(exc) or is_conflict(exc)


def body_broken(exc: BaseException) -> BaseException:
    """The error of a body read, marked for another GET when it is a passing trouble."""
    if is_transient(exc):
        marked = BodyBroken(f"{type(exc).__name__}: {exc}")
        marked.__cause__ = exc
        return marked
    return exc


def unwrap(exc: BaseException) -> BaseException:
    """The real error behind a `BodyBroken` marker."""
    return exc.__cause__ if isinstance(exc, BodyBroken) and exc.__cause__ is not None else exc


def call(fn: Callable[[], T], retry_on: Callable[[BaseException], bool], attempts: int = ATTEMPTS) -> T:
    """fn(), tried up to `attempts` times while it fails with an error `retry_on` accepts; the last error raised."""
    try:
        return fn()
    except Exception as exc:
        if attempts <= 1 or not retry_on(exc):
            raise
        return again(exc, fn, retry_on, attempts)


def again(exc: BaseException, fn: Callable[[], T], retry_on: Callable[[BaseException], bool],
          attempts: int = ATTEMPTS) -> T:
    """fn() tried again after its first attempt failed with `exc` (which `retry_on` accepted): `attempts` in all."""
    if attempts <= 1:
        raise exc
    first: list[BaseException] = [exc]

    def attempt() -> T:
        if first:  # tenacity's first attempt is the failure we already have: it waits, then tries again
            raise first.pop()
        return fn()

    return Retrying(stop=stop_after_attempt(attempts), wait=_WAIT, retry=retry_if_exception(retry_on),
                    reraise=True)(attempt)


async def call_async(fn: Callable[[], Awaitable[T]], retry_on: Callable[[BaseException], bool],
                     attempts: int = ATTEMPTS) -> T:
    """`call` for a coroutine function."""
    try:
        return await fn()
    except Exception as exc:
        if attempts <= 1 or not retry_on(exc):
            raise
        first: list[BaseException] = [exc]

    async def attempt() -> T:
        if first:
            raise first.pop()
        return await fn()

    return await AsyncRetrying(stop=stop_after_attempt(attempts), wait=_WAIT, retry=retry_if_exception(retry_on),
                               reraise=True)(attempt)
