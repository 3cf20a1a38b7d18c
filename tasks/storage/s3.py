"""`S3Store`: s3://bucket/prefix as a store, through s3fs's aiobotocore client.

The client is the one of ``Store.fs`` (an ``s3fs.S3FileSystem``, the filesystem pyarrow and DuckDB read through),
taken with s3fs's public ``await fs.set_session()``, which returns it; every operation runs as one coroutine on
s3fs's IO loop (``fsspec.asyn.sync``). The client is called directly, not through s3fs's file methods, because
those cannot send the conditional headers (``IfNoneMatch``, ``IfMatch``) and add a retry loop of their own.

Measured against SeaweedFS 4.48 and moto 5.2 on this machine (tests/bench_s3_read.py, tests/test_storage.py):
- conditional writes work on both: ``PUT If-None-Match: *`` (create only if absent; exactly 1 of 20 racing writers
  wins), ``PUT If-Match: <etag>`` and ``DELETE If-Match: <etag>`` (412 PreconditionFailed when stale);
- reading many small objects: one asyncio loop with a bounded number of concurrent GETs (what `read_many` does) is
  as fast as ``S3FileSystem.cat(paths)`` and, unlike it, refuses oversize objects before reading their bodies.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from tasks.storage import readers, retry
from tasks.storage.base import DEFAULT_MAX_BYTES, ReadResult, Store
from tasks.storage.errors import (
    ErrorKind,
    NotFound,
    StorageError,
    describe_error,
    is_not_found,
    is_not_implemented,
    is_precondition_failed,
    storage_error,
)
from tasks.storage.settings import S3Settings, s3fs_kwargs

logger = logging.getLogger(__name__)


class S3Store(Store):
    """s3://bucket/prefix (or s3a://) as a store; settings from the environment unless given (`S3Settings`)."""

    kind = "s3"

    def __init__(self, url: str | os.PathLike[str], *, settings: S3Settings | None = None) -> None:
        super().__init__(url, settings=settings)
        parts = urlsplit(os.fspath(url))
        if not parts.netloc:
            raise ValueError("an s3 URL needs a bucket: s3://bucket/prefix")
        if "@" in parts.netloc:
            raise ValueError("put credentials in the environment, not in the URL")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    # -- keys ----------------------------------------------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        """The S3 object key for a store key."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str = "") -> str:
        full = self._full_key(key) if key else self.prefix
        return f"s3://{self.bucket}/{full}".rstrip("/") if full else f"s3://{self.bucket}"

    def fs_path(self, key: str = "") -> str:
        return self.uri(key).removeprefix("s3://")

    # -- clients and readers -------------------------------------------------------------------------------------

    def s3fs_kwargs(self) -> dict[str, Any]:
        """Arguments for ``s3fs.S3FileSystem`` (they include the keys: never log them)."""
        return s3fs_kwargs(self.settings)

    def _make_fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(**self.s3fs_kwargs())

    def polars_storage_options(self) -> dict[str, str]:
        return readers.polars_storage_options(self.settings)

    def duckdb_setup_sql(self, name: str = "govreports_s3") -> str:
        return readers.duckdb_setup_sql(self.settings, self.bucket, name)

    def duckdb_attach(self, con: Any) -> str:
        return readers.duckdb_attach(con, self.settings, self.bucket, self.fs)

    def _run(self, coro_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run a coroutine function on s3fs's IO loop, handing it the aiobotocore client."""
        from fsspec.asyn import sync

        fs = self.fs

        async def call() -> Any:
            client = await fs.set_session()  # s3fs's public way to the client (it is created once, then reused)
            return await coro_fn(client, *args)

        return sync(fs.loop, call)

    def _do(self, what: str, coro_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """`_run`, any failure raised as a typed StorageError whose text says what failed (credentials scrubbed)."""
        try:
            return self._run(coro_fn, *args)
        except Exception as exc:
            exc = retry.unwrap(exc)
            raise storage_error(exc, self._scrub(f"{what}: {describe_error(exc)}")) from None

    # -- listing -------------------------------------------------------------------------------------------------

    def _list(self, prefix: str, problems: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
        root = f"{self.prefix}/" if self.prefix else ""

        async def go(client: Any) -> list[tuple[str, int, str]]:
            rows: list[tuple[str, int, str]] = []
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": root + prefix}
            while True:
                page = await retry.call_async(lambda: client.list_objects_v2(**kwargs), retry.retry_s3)
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith("/") or not key.startswith(root):  # folder markers
                        continue
                    rows.append((key[len(root):], int(obj.get("Size", 0)), str(obj.get("ETag", "")).strip('"')))
                if not page.get("IsTruncated"):
                    return rows
                kwargs["ContinuationToken"] = page["NextContinuationToken"]

        return self._do(f"list {self.uri(prefix)}", go)  # type: ignore[no-any-return]

    # -- reading -------------------------------------------------------------------------------------------------

    async def _get(self, client: Any, key: str, max_bytes: int | None = None) -> tuple[bytes, str]:
        """One GET, its body read whole: (bytes, ETag). A body that breaks off is marked for another GET
        (retry.body_broken); an object over `max_bytes` is refused from its headers, its body never read."""
        resp = await client.get_object(Bucket=self.bucket, Key=self._full_key(key))
        body = resp["Body"]
        size = resp.get("ContentLength")
        if max_bytes is not None and size is not None and size > max_bytes:
            await _close_body(body)
            raise StorageError(f"too_large: {size} bytes > {max_bytes}", ErrorKind.TOO_LARGE)
        try:
            async with body as stream:
                return await stream.read(), str(resp.get("ETag", ""))
        except Exception as exc:
            raise retry.body_broken(exc) from exc

    def read_many(self, keys: Sequence[str], *, max_workers: int = 16, max_bytes: int = DEFAULT_MAX_BYTES,
                  attempts: int = 4) -> list[ReadResult]:
        """One asyncio loop, at most `max_workers` GETs in flight, the size checked from the response headers
        before the body is read."""
        keys = list(keys)
        if not keys:
            return []
        try:
            return self._run(self._read_many, keys, max_workers, max_bytes, attempts)  # type: ignore[no-any-return]
        except Exception as exc:  # the loop itself failed (no session, bad config): every key gets the reason
            error = storage_error(exc, self._scrub(describe_error(exc)))
            return [(k, None, error) for k in keys]

    async def _read_many(self, client: Any, keys: list[str], max_workers: int, max_bytes: int,
                         attempts: int) -> list[ReadResult]:
        sem = asyncio.Semaphore(max(1, max_workers))

        async def one(key: str) -> ReadResult:
            async with sem:
                try:
                    data, _etag = await retry.call_async(lambda: self._get(client, key, max_bytes), retry.retry_s3,
                                                         attempts)
                    return key, data, None
                except StorageError as exc:  # too large
                    return key, None, exc
                except Exception as exc:
                    exc = retry.unwrap(exc)
                    return key, None, storage_error(exc, self._scrub(describe_error(exc, key)))

        return list(await asyncio.gather(*(one(k) for k in keys)))

    def get_bytes(self, key: str) -> bytes:
        async def go(client: Any) -> bytes:
            data, _etag = await retry.call_async(lambda: self._get(client, key), retry.retry_s3)
            return data

        try:
            return self._run(go)  # type: ignore[no-any-return]
        except Exception as exc:
            exc = retry.unwrap(exc)
            if is_not_found(exc):
                raise NotFound(f"not_found: {self.uri(key)}") from None
            raise storage_error(exc, self._scrub(f"get {self.uri(key)}: {describe_error(exc)}")) from None

    def exists(self, key: str) -> bool:
        async def go(client: Any) -> bool:
            try:
                await retry.call_async(lambda: client.head_object(Bucket=self.bucket, Key=self._full_key(key)),
                                       retry.retry_s3)
                return True
            except Exception as exc:
                if is_not_found(exc):
                    return False
                raise

        return self._do(f"head {self.uri(key)}", go)  # type: ignore[no-any-return]

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        async def go(client: Any) -> tuple[bytes, str] | None:
            try:
                return await retry.call_async(lambda: self._get(client, key), retry.retry_s3)
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise

        return self._do(f"get {self.uri(key)}", go)  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        """One PUT: readers see the object whole or not at all."""
        self.check_key(key)

        async def go(client: Any) -> None:
            await retry.call_async(lambda: client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data),
                                   retry.retry_s3)

        self._do(f"put {self.uri(key)}", go)

    def delete(self, keys: Iterable[str]) -> None:
        """DeleteObjects, 1,000 keys a request."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return

        async def go(client: Any) -> list[dict[str, Any]]:
            errors: list[dict[str, Any]] = []
            for i in range(0, len(keys), 1000):
                objects = [{"Key": self._full_key(k)} for k in keys[i:i + 1000]]
                resp = await retry.call_async(lambda objects=objects: client.delete_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}), retry.retry_s3)
                errors.extend(resp.get("Errors", ()))
            return errors

        errors = self._do(f"delete {len(keys)} objects under {self.uri()}", go)
        if errors:
            sample = "; ".join(f"{e.get('Key')}: {e.get('Code')} {e.get('Message')}" for e in errors[:3])
            raise StorageError(self._scrub(f"delete: {len(errors)} objects not deleted ({sample})"))

    # -- conditional writes --------------------------------------------------------------------------------------

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """A HEAD (an existing object means False without writing), then ``PUT If-None-Match: *``; a 412 means
        another writer got there first. SeaweedFS and moto honour it (one winner among 20 racing writers), as does
        AWS S3. Fallback, for a server answering 501 NotImplemented to the header: a plain PUT after the HEAD, then
        a read-back to check the object is ours — this narrows the race window but does not close it."""
        self.check_key(key)
        bucket, full = self.bucket, self._full_key(key)

        async def go(client: Any) -> bool:
            try:
                await retry.call_async(lambda: client.head_object(Bucket=bucket, Key=full), retry.retry_s3)
                return False
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            try:
                await retry.call_async(lambda: client.put_object(Bucket=bucket, Key=full, Body=data, IfNoneMatch="*"),
                                       retry.retry_s3_conditional)
                return True
            except Exception as exc:
                if is_precondition_failed(exc):
                    return False
                if not is_not_implemented(exc):
                    raise
            logger.warning("%s does not support conditional PUT (If-None-Match); falling back to HEAD+PUT+verify",
                           self.url)
            await retry.call_async(lambda: client.put_object(Bucket=bucket, Key=full, Body=data), retry.retry_s3)
            stored, _etag = await self._get(client, key)
            return stored == data

        return self._do(f"put_if_absent {self.uri(key)}", go)  # type: ignore[no-any-return]

    def put_if_match(self, key: str, data: bytes, version: str) -> bool:
        """``PUT If-Match: <etag>`` (SeaweedFS, moto and AWS honour it)."""
        self.check_key(key)
        return self._conditional("put_object", "put_if_match", key, Body=data, IfMatch=version)

    def delete_if_match(self, key: str, version: str) -> bool:
        """The version is compared first (a server ignoring the header cannot then delete a newer object written
        before the check), then ``DELETE If-Match``."""
        current = self.read_versioned(key)
        if current is None or current[1] != version:
            return False
        return self._conditional("delete_object", "delete_if_match", key, IfMatch=version)

    def _conditional(self, method: str, what: str, key: str, **kwargs: Any) -> bool:
        """One conditional S3 request (If-Match / If-None-Match): True when applied, False on 412 or a missing key."""

        async def go(client: Any) -> bool:
            request = getattr(client, method)
            try:
                await retry.call_async(lambda: request(Bucket=self.bucket, Key=self._full_key(key), **kwargs),
                                       retry.retry_s3_conditional)
                return True
            except Exception as exc:
                if is_precondition_failed(exc) or is_not_found(exc):
                    return False
                raise

        return self._do(f"{what} {self.uri(key)}", go)  # type: ignore[no-any-return]


async def _close_body(body: Any) -> None:
    closer = getattr(body, "aclose", None) or getattr(body, "close", None)
    if closer is None:  # pragma: no cover
        return
    result = closer()
    if asyncio.iscoroutine(result):
        await result
