"""Object storage for raw reports and the lake: one `Store` per URL (a local folder or s3://bucket/prefix).

This is the only module that touches objects. Everything else speaks in *keys*: '/'-separated names relative to the
store's root, kept exactly as the storage names them (spaces, Chinese, a literal ``%2F`` stay as they are).

S3 goes through s3fs's aiobotocore client (the same session fsspec, pyarrow and DuckDB can reuse through
``Store.fs``). Settings come from the environment (`S3Settings`): the standard AWS variables plus an S3-compatible
endpoint. Credentials are never logged: `repr(store)` shows only the URL and every error text is scrubbed.

Measured against SeaweedFS 4.48 and moto 5.2 on this machine (see tests/bench_s3_read.py and tests/test_storage.py):
- conditional writes work on both: ``PUT If-None-Match: *`` (create only if absent; exactly 1 of 20 racing writers
  wins), ``PUT If-Match: <etag>`` and ``DELETE If-Match: <etag>`` (412 PreconditionFailed when stale);
- reading many small objects: one asyncio loop with a bounded number of concurrent GETs (what `read_many` does) is
  as fast as ``S3FileSystem.cat(paths)`` and, unlike it, refuses oversize objects before reading their bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import random
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import polars as pl
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024**2
TMP_PREFIX = "_tmp"  # local temporary files and lock files: outside every table folder
LISTING_SCHEMA = pl.Schema({"key": pl.String, "size": pl.Int64, "etag": pl.String})

# S3 error codes worth another try (besides any 5xx): throttling and server-side timeouts.
_TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests", "RequestTimeout",
    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "ConditionalRequestConflict",
    "OperationAborted", "XAmzContentSHA256Mismatch",
})
# Local errno values worth another try (network filesystems).
_TRANSIENT_ERRNO = frozenset({errno.EAGAIN, errno.EINTR, errno.EIO, errno.ETIMEDOUT, errno.ECONNRESET,
                              getattr(errno, "ESTALE", -1)})


class S3Settings(BaseSettings):
    """S3 connection settings from the environment (names in the aliases); any field can also be given by name.

    Endpoint precedence: GOVREPORTS_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL. With no keys set, the
    default botocore chain applies (profile, web identity on Kubernetes, instance metadata).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    access_key_id: SecretStr | None = Field(None, validation_alias=AliasChoices("access_key_id", "AWS_ACCESS_KEY_ID"))
    secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("secret_access_key", "AWS_SECRET_ACCESS_KEY"))
    session_token: SecretStr | None = Field(None, validation_alias=AliasChoices("session_token", "AWS_SESSION_TOKEN"))
    region: str | None = Field(None, validation_alias=AliasChoices("region", "AWS_REGION", "AWS_DEFAULT_REGION"))
    endpoint_url: str | None = Field(None, validation_alias=AliasChoices(
        "endpoint_url", "GOVREPORTS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"))
    connect_timeout: float = Field(10.0, validation_alias=AliasChoices("connect_timeout", "GOVREPORTS_S3_CONNECT_TIMEOUT"))
    read_timeout: float = Field(60.0, validation_alias=AliasChoices("read_timeout", "GOVREPORTS_S3_READ_TIMEOUT"))
    max_attempts: int = Field(4, validation_alias=AliasChoices("max_attempts", "GOVREPORTS_S3_MAX_ATTEMPTS"))
    max_pool_connections: int = Field(64, validation_alias=AliasChoices(
        "max_pool_connections", "GOVREPORTS_S3_MAX_POOL_CONNECTIONS"))
    # "auto": path style and checksums "when_required" for a custom (non-AWS) endpoint, AWS defaults otherwise.
    addressing_style: str = Field("auto", validation_alias=AliasChoices("addressing_style", "GOVREPORTS_S3_ADDRESSING_STYLE"))
    checksum_calculation: str = Field("auto", validation_alias=AliasChoices(
        "checksum_calculation", "GOVREPORTS_S3_CHECKSUM_CALCULATION"))

    @property
    def is_custom_endpoint(self) -> bool:
        return bool(self.endpoint_url) and "amazonaws.com" not in (self.endpoint_url or "")

    @property
    def effective_region(self) -> str | None:
        return self.region or ("us-east-1" if self.endpoint_url else None)

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.access_key_id, self.secret_access_key, self.session_token)
                if s is not None and len(s.get_secret_value()) >= 4]

    def __repr__(self) -> str:  # never the keys
        return f"S3Settings(endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    __str__ = __repr__


_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_SIGNED_PARAMS = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s]+", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove credentials from text: URL userinfo, presigned-URL parameters, and the given or configured secrets."""
    out = _SIGNED_PARAMS.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", str(text)))
    values = set(secrets)
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        out = out.replace(value, "***")
    return out


_TMP_NAME = re.compile(r"^\.put-(?:(\d+)-)?.*\.tmp$")


def _pid_running(pid: int) -> bool:
    """Is a process with this pid running here (a zombie counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


class StorageError(OSError):
    """An operation on a store failed (message scrubbed of credentials)."""


_BACKSLASH_TO_DOUBLE = re.compile(r"\\(?=\\|x[0-9a-f]{2}|[\udc80-\udcff])")  # in a local name (encode_name)
_ESCAPE_RE = re.compile(r"\\\\|\\x([0-9a-f]{2})")  # in a listed key: a doubled backslash, or a byte that is not UTF-8


class Store:
    """A place holding objects: a local folder (plain path or file://) or s3://bucket/prefix.

    Keys are relative to the root and '/'-separated. Local writes are atomic (a temporary file under ``_tmp/`` at
    the root, then ``os.replace``); S3 writes are single PUTs, which readers see whole or not at all.
    """

    def __init__(self, url: str | os.PathLike[str], *, settings: S3Settings | None = None) -> None:
        raw = os.fspath(url)
        parts = urlsplit(raw)
        self._settings = settings
        self._fs: Any = None
        self._fs_lock = threading.Lock()
        self.listing_problems: list[tuple[str, str]] = []  # what the last local listing could not list (list_objects)
        if parts.scheme in ("s3", "s3a"):
            if not parts.netloc:
                raise ValueError("an s3 URL needs a bucket: s3://bucket/prefix")
            if "@" in parts.netloc:
                raise ValueError("put credentials in the environment, not in the URL")
            self.kind = "s3"
            self.bucket = parts.netloc
            self.prefix = parts.path.strip("/")
            self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
            self.root = ""
        elif parts.scheme in ("", "file") or (len(parts.scheme) == 1 and os.name == "nt"):
            path = parts.path if parts.scheme == "file" else raw
            self.kind = "local"
            self.bucket = ""
            self.prefix = ""
            self.root = os.path.abspath(os.path.expanduser(path))
            self.url = self.root
        else:
            raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}: use a folder path or s3://bucket/prefix")

    # -- identity ------------------------------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def settings(self) -> S3Settings:
        if self._settings is None:
            self._settings = S3Settings()
        return self._settings

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __getstate__(self) -> dict[str, Any]:  # picklable for process and Dask workers: the client is rebuilt there
        return {"url": self.url, "settings": self._settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], settings=state["settings"])  # type: ignore[misc]

    @staticmethod
    def redact(text: str) -> str:
        """Text without credentials (URL userinfo, presigned parameters, the AWS secrets in the environment)."""
        return redact(text)

    def _scrub(self, text: str) -> str:
        return redact(text, self._settings.secrets() if self._settings is not None else ())

    # -- keys ----------------------------------------------------------------------------------------------------

    @staticmethod
    def join(*parts: str) -> str:
        """Join key parts with '/' (no other normalisation: '%2F', spaces and Chinese are kept as they are)."""
        return "/".join(p.strip("/") for p in parts if p and p.strip("/"))

    def _full_key(self, key: str) -> str:
        """The S3 object key for a store key."""
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def check_key(key: str) -> str:
        """A key we may create: relative, '/'-separated, no empty, '.' or '..' segment, no NUL or backslash. Local
        paths must never leave the root; on S3 such keys are legal but every tool that maps keys to paths (sync to
        disk, fsspec, a Hive reader) would put them somewhere else, so the lake never creates one."""
        if (not isinstance(key, str) or not key or key.startswith("/") or "\0" in key or "\\" in key
                or any(seg in ("", "..", ".") for seg in key.split("/"))):
            raise ValueError(f"invalid key {key!r}: keys are relative, '/'-separated, without empty, '.' or '..' "
                             "segments")
        return key

    def _local_path(self, key: str) -> str:
        """The file of a key under the root; a key that could leave it ('..', '.', absolute, NUL) is refused."""
        if not key or key.startswith("/") or "\0" in key or any(seg in ("..", ".") for seg in key.split("/")):
            raise ValueError(f"invalid key {key!r}: keys are relative, '/'-separated, without '.' or '..' segments")
        # a listed name (encode_name): doubled backslashes and `\xNN` back to the name os.listdir gave
        return os.path.join(self.root, *self.decode_name(key).split("/"))

    def uri(self, key: str = "") -> str:
        """Full address of a key: s3://bucket/prefix/key, or the local absolute path (for readers like DuckDB)."""
        if self.is_local:
            return self._local_path(key) if key else self.root
        full = self._full_key(key) if key else self.prefix
        return f"s3://{self.bucket}/{full}".rstrip("/") if full else f"s3://{self.bucket}"

    def fs_path(self, key: str = "") -> str:
        """Path of a key for ``Store.fs`` (fsspec): bucket/prefix/key, or the local absolute path."""
        return self.uri(key) if self.is_local else self.uri(key).removeprefix("s3://")

    # -- clients -------------------------------------------------------------------------------------------------

    def s3fs_kwargs(self) -> dict[str, Any]:
        """Arguments for ``s3fs.S3FileSystem`` (they include the keys: never log them)."""
        s = self.settings
        config: dict[str, Any] = {
            "connect_timeout": s.connect_timeout,
            "read_timeout": s.read_timeout,
            "retries": {"max_attempts": s.max_attempts, "mode": "standard"},
            "max_pool_connections": s.max_pool_connections,
        }
        style = s.addressing_style if s.addressing_style != "auto" else ("path" if s.is_custom_endpoint else None)
        if style:
            config["s3"] = {"addressing_style": style}
        checksum = (s.checksum_calculation if s.checksum_calculation != "auto"
                    else ("when_required" if s.is_custom_endpoint else None))
        if checksum:  # recent botocore adds CRC checksums that some S3-compatible servers reject
            config["request_checksum_calculation"] = checksum
            config["response_checksum_validation"] = checksum
        kwargs: dict[str, Any] = {"config_kwargs": config, "use_listings_cache": False}
        if s.endpoint_url:
            kwargs["endpoint_url"] = s.endpoint_url
        if s.effective_region:
            kwargs["client_kwargs"] = {"region_name": s.effective_region}
        if s.access_key_id is not None:
            kwargs["key"] = s.access_key_id.get_secret_value()
        if s.secret_access_key is not None:
            kwargs["secret"] = s.secret_access_key.get_secret_value()
        if s.session_token is not None:
            kwargs["token"] = s.session_token.get_secret_value()
        return kwargs

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (LocalFileSystem or s3fs.S3FileSystem) for readers such as pyarrow and DuckDB."""
        if self._fs is None:
            with self._fs_lock:
                if self._fs is None:
                    if self.is_local:
                        from fsspec.implementations.local import LocalFileSystem

                        self._fs = LocalFileSystem()
                    else:
                        import s3fs

                        self._fs = s3fs.S3FileSystem(**self.s3fs_kwargs())
        return self._fs

    def _run(self, coro_fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on s3fs's IO loop, handing it the aiobotocore client."""
        from fsspec.asyn import sync

        fs = self.fs

        async def call() -> Any:
            await fs.set_session()
            return await coro_fn(fs._s3, *args, **kwargs)

        return sync(fs.loop, call)

    def _s3_error(self, exc: BaseException, what: str) -> StorageError:
        return StorageError(self._scrub(f"{what}: {describe_error(exc)}"))

    # -- listing -------------------------------------------------------------------------------------------------

    def list_objects(self, prefix: str = "") -> pl.DataFrame:
        """Every object under the root whose key starts with `prefix` (a string prefix, recursive), directories
        skipped: key (relative, '/'-separated), size (Int64), etag (String; locally f"{mtime_ns}-{size}").

        A local folder's entries that are not objects one may read are left out, each with its reason in
        `self.listing_problems` as (key, reason) after the call: a symbolic link leaving the root (never followed: a source folder does not
        reach outside itself), a symbolic link loop or one whose target is gone, a folder that cannot be listed, an
        entry that cannot be looked at. A symbolic link to a file inside the root is that file under another name;
        one to a folder is not walked (its files are listed where they are)."""
        problems: list[tuple[str, str]] = []
        rows = self._list_local(prefix, problems) if self.is_local else self._list_s3(prefix)
        self.listing_problems = problems
        return pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row").sort("key")

    @staticmethod
    def encode_name(name: str) -> str:
        """A local name (as os.listdir gives it: bytes that are not UTF-8 as surrogates) as a key: every byte that is
        not UTF-8 written `\\xNN`, and a backslash doubled where it would otherwise read as part of an escape (before
        `xNN`, another backslash or such a byte). Unambiguous (a file literally named `bad\\xffname` gets another key
        than one whose name holds the byte 0xff), and every other name is its own key, as before."""
        if "\\" in name:
            name = _BACKSLASH_TO_DOUBLE.sub(r"\\\\", name)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return name

    @staticmethod
    def decode_name(key: str) -> str:
        """The local name of a key (`encode_name` undone; a lone backslash not starting an escape is itself)."""
        if "\\" not in key:
            return key
        return _ESCAPE_RE.sub(lambda m: "\\" if m.group(0) == "\\\\" else chr(0xDC00 + int(m.group(1), 16)), key)

    def _list_local(self, prefix: str, problems: list[tuple[str, str]] | None = None) -> list[tuple[str, int, str]]:
        if not os.path.isdir(self.root):
            return []
        head, _, _ = prefix.rpartition("/")
        start = os.path.join(self.root, *head.split("/")) if head else self.root
        if not os.path.isdir(start):
            return []
        root_real = os.path.realpath(self.root)
        rows: list[tuple[str, int, str]] = []

        def problem(path: str, reason: str) -> None:
            key = self.encode_name(os.path.relpath(path, self.root).replace(os.sep, "/"))
            if key.startswith(prefix) and problems is not None:
                problems.append((key, reason))
            logger.warning("not listed: %r: %s", key, reason)

        def walk_error(exc: OSError) -> None:
            if isinstance(exc, FileNotFoundError) or exc.filename is None:
                return
            problem(os.fsdecode(exc.filename), f"a folder that cannot be listed: {describe_error(exc)}")

        for dirpath, dirnames, filenames in os.walk(start, onerror=walk_error):
            rel_dir = os.path.relpath(dirpath, self.root)
            base = "" if rel_dir == "." else self.encode_name(rel_dir.replace(os.sep, "/")) + "/"
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                key = base + self.encode_name(name)
                if not key.startswith(prefix):
                    continue
                if key != base + name:
                    logger.warning("a file name that is not valid UTF-8 or holds a backslash is listed as %r", key)
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:  # removed while listing
                    continue
                except OSError as exc:
                    problem(path, f"an entry that cannot be looked at: {describe_error(exc)}")
                    continue
                if stat.S_ISLNK(st.st_mode):
                    target = os.path.realpath(path)
                    if os.path.commonpath([root_real, target]) != root_real:
                        problem(path, "a symbolic link leaving the source folder: not followed")
                        continue
                    try:
                        st = os.stat(path)
                    except OSError as exc:
                        what = "a symbolic link loop" if exc.errno == errno.ELOOP else "a symbolic link whose target is gone"
                        problem(path, f"{what}: not followed")
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        continue  # its files are listed where they are
                if not stat.S_ISREG(st.st_mode):
                    continue
                rows.append((key, st.st_size, f"{st.st_mtime_ns}-{st.st_size}"))
        return rows

    def _list_s3(self, prefix: str) -> list[tuple[str, int, str]]:
        root = f"{self.prefix}/" if self.prefix else ""

        async def go(client: Any) -> list[tuple[str, int, str]]:
            rows: list[tuple[str, int, str]] = []
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": root + prefix}
            while True:
                page = await _with_retries(lambda: client.list_objects_v2(**kwargs))
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith("/") or not key.startswith(root):  # folder markers
                        continue
                    rows.append((key[len(root):], int(obj.get("Size", 0)), str(obj.get("ETag", "")).strip('"')))
                if not page.get("IsTruncated"):
                    return rows
                kwargs["ContinuationToken"] = page["NextContinuationToken"]

        try:
            return self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"list {self.uri(prefix)}") from None

    # -- reading -------------------------------------------------------------------------------------------------

    def read_many(self, keys: Sequence[str], *, max_workers: int = 16, max_bytes: int = DEFAULT_MAX_BYTES,
                  attempts: int = 4) -> list[tuple[str, bytes | None, str | None]]:
        """Read many objects (S3: concurrently): [(key, data, error)] in the order given; never raises for one key.

        Objects larger than `max_bytes` are not read (error "too_large: N bytes > LIMIT"); a missing object gives
        "not_found: …". Transient failures (5xx, SlowDown, connection resets, timeouts) are retried `attempts`
        times with exponential backoff and jitter. S3: one asyncio loop, at most `max_workers` GETs in flight, the
        size checked from the response headers before the body is read.
        """
        keys = list(keys)
        if not keys:
            return []
        if self.is_local:
            # one by one, in this thread: a report read from the page cache costs ~25 µs, and every thread hand-off
            # costs more than that (2,000 files here, CPU per file: a loop 32-48 µs; a pool of 4 threads with a
            # future per file ~210 µs, with a slice of the keys per thread ~150 µs). Parallel reads come from the
            # task workers, one process each.
            return [self._read_local_one(k, max_bytes, attempts) for k in keys]
        try:
            return self._run(self._s3_read_many, keys, max_workers, max_bytes, attempts)
        except Exception as exc:  # the loop itself failed (no session, bad config): every key gets the reason
            reason = self._scrub(describe_error(exc))
            return [(k, None, reason) for k in keys]

    def _read_local_one(self, key: str, max_bytes: int, attempts: int) -> tuple[str, bytes | None, str | None]:
        for attempt in range(attempts):
            try:
                with open(self._local_path(key), "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size > max_bytes:
                        return key, None, f"too_large: {size} bytes > {max_bytes}"
                    return key, fh.read(), None
            except FileNotFoundError:
                return key, None, f"not_found: {key}"
            except IsADirectoryError:
                return key, None, f"not_found: {key} is a directory"
            except OSError as exc:
                if exc.errno in _TRANSIENT_ERRNO and attempt + 1 < attempts:
                    time.sleep(_backoff(attempt))
                    continue
                return key, None, describe_error(exc)
            except ValueError as exc:
                return key, None, describe_error(exc)
        return key, None, "error: no attempt made"  # pragma: no cover

    async def _s3_read_many(self, client: Any, keys: list[str], max_workers: int, max_bytes: int,
                            attempts: int) -> list[tuple[str, bytes | None, str | None]]:
        sem = asyncio.Semaphore(max(1, max_workers))

        async def one(key: str) -> tuple[str, bytes | None, str | None]:
            async with sem:
                for attempt in range(attempts):
                    try:
                        resp = await client.get_object(Bucket=self.bucket, Key=self._full_key(key))
                        body = resp["Body"]
                        size = resp.get("ContentLength")
                        if size is not None and size > max_bytes:
                            await _close_body(body)
                            return key, None, f"too_large: {size} bytes > {max_bytes}"
                        async with body as stream:
                            data = await stream.read()
                        return key, data, None
                    except Exception as exc:
                        if _is_transient(exc) and attempt + 1 < attempts:
                            await asyncio.sleep(_backoff(attempt))
                            continue
                        return key, None, self._scrub(describe_error(exc, key))
                return key, None, "error: no attempt made"  # pragma: no cover

        return list(await asyncio.gather(*(one(k) for k in keys)))

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""
        if self.is_local:
            with open(self._local_path(key), "rb") as fh:
                return fh.read()

        async def go(client: Any) -> bytes:
            resp = await _with_retries(lambda: client.get_object(Bucket=self.bucket, Key=self._full_key(key)))
            async with resp["Body"] as stream:
                return await stream.read()

        try:
            return self._run(go)
        except Exception as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(f"not_found: {self.uri(key)}") from None
            raise self._s3_error(exc, f"get {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        if self.is_local:
            return os.path.isfile(self._local_path(key))

        async def go(client: Any) -> bool:
            try:
                await _with_retries(lambda: client.head_object(Bucket=self.bucket, Key=self._full_key(key)))
                return True
            except Exception as exc:
                if _is_not_found(exc):
                    return False
                raise

        try:
            return self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"head {self.uri(key)}") from None

    # -- writing -------------------------------------------------------------------------------------------------

    def _tmp_file(self) -> tuple[int, str]:
        tmp_dir = os.path.join(self.root, TMP_PREFIX)
        os.makedirs(tmp_dir, exist_ok=True)
        # the writer's pid in the name: a process killed between write and rename leaves a file clean_tmp can judge
        return tempfile.mkstemp(dir=tmp_dir, prefix=f".put-{os.getpid()}-", suffix=".tmp")

    def clean_tmp(self, max_age_s: float = 24 * 3600) -> int:
        """Remove temporary files left by killed writers (local stores; S3 writes are single PUTs and leave none):
        those of a process that no longer runs on this machine, and any older than `max_age_s`. Returns how many.
        Lock files (_tmp/locks/) stay. Call it while holding the writer lease."""
        if not self.is_local:
            return 0
        tmp_dir = os.path.join(self.root, TMP_PREFIX)
        try:
            names = os.listdir(tmp_dir)
        except FileNotFoundError:
            return 0
        removed = 0
        now = time.time()
        for name in names:
            m = _TMP_NAME.match(name)
            if not m:
                continue
            path = os.path.join(tmp_dir, name)
            try:
                age = now - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            pid = int(m.group(1)) if m.group(1) else None
            if age > max_age_s or (pid is not None and pid != os.getpid() and not _pid_running(pid)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
        return removed

    def _write_tmp(self, data: bytes) -> str:
        fd, tmp = self._tmp_file()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write an object whole: locally a temporary file under _tmp/ then os.replace; on S3 one PUT."""
        self.check_key(key)
        if self.is_local:
            dest = self._local_path(key)
            tmp = self._write_tmp(data)
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.replace(tmp, dest)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return

        async def go(client: Any) -> None:
            await _with_retries(lambda: client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data))

        try:
            self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"put {self.uri(key)}") from None

    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects (missing ones are fine). Locally, folders left empty are removed too, like on S3."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        if self.is_local:
            parents: set[str] = set()
            for key in keys:
                path = self._local_path(key)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                parents.add(os.path.dirname(path))
            self._prune_empty_dirs(parents)
            return

        async def go(client: Any) -> list[dict[str, Any]]:
            errors: list[dict[str, Any]] = []
            for i in range(0, len(keys), 1000):
                chunk = keys[i:i + 1000]
                objects = [{"Key": self._full_key(k)} for k in chunk]
                resp = await _with_retries(lambda objects=objects: client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}))
                errors.extend(resp.get("Errors", ()))
            return errors

        try:
            errors = self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"delete {len(keys)} objects under {self.uri()}") from None
        if errors:
            sample = "; ".join(f"{e.get('Key')}: {e.get('Code')} {e.get('Message')}" for e in errors[:3])
            raise StorageError(self._scrub(f"delete: {len(errors)} objects not deleted ({sample})"))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; returns how many."""
        keys = self.list_objects(prefix).get_column("key").to_list()
        self.delete(keys)
        return len(keys)

    def _prune_empty_dirs(self, dirs: Iterable[str]) -> None:
        root = os.path.abspath(self.root)
        for d in sorted(dirs, key=len, reverse=True):
            d = os.path.abspath(d)
            while d.startswith(root + os.sep) and d != root:
                try:
                    os.rmdir(d)
                except OSError:  # not empty (or gone): stop climbing
                    break
                d = os.path.dirname(d)

    # -- conditional writes --------------------------------------------------------------------------------------

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if no object has that key; True when this call created it.

        Local: the bytes go to a temporary file which is then hard-linked to the key (link fails if the name
        exists), so the object appears whole or not at all; where hard links are not supported, os.open with
        O_CREAT|O_EXCL (atomic creation, but a reader may briefly see a partly written file).
        S3: a HEAD (an existing object means False without writing), then ``PUT If-None-Match: *``; a 412 means
        another writer got there first. SeaweedFS and moto honour it (one winner among 20 racing writers), as does
        AWS S3. Fallback, for a server answering 501 NotImplemented to the header: a plain PUT after the HEAD, then
        a read-back to check the object is ours — this narrows the race window but does not close it.
        """
        self.check_key(key)
        if self.is_local:
            return self._put_if_absent_local(key, data)

        async def go(client: Any) -> bool:
            bucket, full = self.bucket, self._full_key(key)
            try:
                await _with_retries(lambda: client.head_object(Bucket=bucket, Key=full))
                return False
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
            try:
                await _with_retries(lambda: client.put_object(Bucket=bucket, Key=full, Body=data, IfNoneMatch="*"),
                                    retry_conflicts=True)
                return True
            except Exception as exc:
                if _is_precondition_failed(exc):
                    return False
                if not _is_not_implemented(exc):
                    raise
            logger.warning("%s does not support conditional PUT (If-None-Match); falling back to HEAD+PUT+verify",
                           self.url)
            await _with_retries(lambda: client.put_object(Bucket=bucket, Key=full, Body=data))
            resp = await client.get_object(Bucket=bucket, Key=full)
            async with resp["Body"] as stream:
                return await stream.read() == data

        try:
            return self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"put_if_absent {self.uri(key)}") from None

    def _put_if_absent_local(self, key: str, data: bytes) -> bool:
        dest = self._local_path(key)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = self._write_tmp(data)
        try:
            os.link(tmp, dest)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        try:  # no hard links here: exclusive create
            fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, version) or None when absent. The version is opaque: the S3 ETag, or locally a SHA-256 of the
        content (not the cheap fingerprint of `list_objects`). Pass it to put_if_match / delete_if_match."""
        if self.is_local:
            try:
                with open(self._local_path(key), "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                return None
            return data, hashlib.sha256(data).hexdigest()

        async def go(client: Any) -> tuple[bytes, str] | None:
            try:
                resp = await _with_retries(lambda: client.get_object(Bucket=self.bucket, Key=self._full_key(key)))
            except Exception as exc:
                if _is_not_found(exc):
                    return None
                raise
            async with resp["Body"] as stream:
                data = await stream.read()
            return data, str(resp.get("ETag", ""))

        try:
            return self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"get {self.uri(key)}") from None

    def put_if_match(self, key: str, data: bytes, version: str) -> bool:
        """Replace the object only if it is still at `version` (from read_versioned); True when replaced.
        S3: ``PUT If-Match: <etag>`` (SeaweedFS, moto and AWS honour it). Local: under an flock on a lock file in
        _tmp/locks/, compare the content hash, then temp file + os.replace."""
        self.check_key(key)
        if self.is_local:
            with self._local_lock(key):
                current = self.read_versioned(key)
                if current is None or current[1] != version:
                    return False
                self.put_bytes(key, data)
                return True

        return self._conditional("put_object", "put_if_match", key, Body=data, IfMatch=version)

    def delete_if_match(self, key: str, version: str) -> bool:
        """Delete the object only if it is still at `version`; True when deleted. S3: the version is compared
        first (a server ignoring the header cannot then delete a newer object written before the check), then
        ``DELETE If-Match``."""
        if self.is_local:
            with self._local_lock(key):
                current = self.read_versioned(key)
                if current is None or current[1] != version:
                    return False
                self.delete([key])
                return True
        current = self.read_versioned(key)
        if current is None or current[1] != version:
            return False

        return self._conditional("delete_object", "delete_if_match", key, IfMatch=version)

    def _conditional(self, method: str, what: str, key: str, **kwargs: Any) -> bool:
        """One conditional S3 request (If-Match / If-None-Match): True when applied, False on 412 or a missing key."""

        async def go(client: Any) -> bool:
            try:
                await _with_retries(lambda: getattr(client, method)(Bucket=self.bucket, Key=self._full_key(key), **kwargs),
                                    retry_conflicts=True)
                return True
            except Exception as exc:
                if _is_precondition_failed(exc) or _is_not_found(exc):
                    return False
                raise

        try:
            return self._run(go)
        except Exception as exc:
            raise self._s3_error(exc, f"{what} {self.uri(key)}") from None

    @contextlib.contextmanager
    def _local_lock(self, key: str) -> Any:
        import fcntl

        lock_dir = os.path.join(self.root, TMP_PREFIX, "locks")
        os.makedirs(lock_dir, exist_ok=True)
        name = hashlib.sha1(key.encode("utf-8")).hexdigest() + ".lock"
        fd = os.open(os.path.join(lock_dir, name), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- readers' settings ---------------------------------------------------------------------------------------

    def polars_storage_options(self) -> dict[str, str] | None:
        """``storage_options`` for pl.scan_parquet / read_parquet on this store (None locally). Contains the keys:
        pass it on, never print it."""
        if self.is_local:
            return None
        s = self.settings
        opts: dict[str, str] = {}
        if s.endpoint_url:
            opts["aws_endpoint_url"] = s.endpoint_url
            if s.endpoint_url.startswith("http://"):
                opts["aws_allow_http"] = "true"
            if s.is_custom_endpoint:
                opts["aws_virtual_hosted_style_request"] = "false"
        if s.effective_region:
            opts["aws_region"] = s.effective_region
        if s.access_key_id is not None:
            opts["aws_access_key_id"] = s.access_key_id.get_secret_value()
        if s.secret_access_key is not None:
            opts["aws_secret_access_key"] = s.secret_access_key.get_secret_value()
        if s.session_token is not None:
            opts["aws_session_token"] = s.session_token.get_secret_value()
        return opts

    def duckdb_setup_sql(self, name: str = "govreports_s3") -> str:
        """``CREATE OR REPLACE SECRET … (TYPE S3 …)`` for DuckDB's httpfs, scoped to this bucket. Contains the keys:
        execute it, never print it. (DuckDB downloads httpfs at run time; offline, use `duckdb_attach`.)"""
        if self.is_local:
            return ""
        s = self.settings

        def q(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        items = ["TYPE S3"]
        if s.access_key_id is not None and s.secret_access_key is not None:
            items += [f"KEY_ID {q(s.access_key_id.get_secret_value())}",
                      f"SECRET {q(s.secret_access_key.get_secret_value())}"]
            if s.session_token is not None:
                items.append(f"SESSION_TOKEN {q(s.session_token.get_secret_value())}")
        else:
            items.append("PROVIDER credential_chain")
        if s.effective_region:
            items.append(f"REGION {q(s.effective_region)}")
        if s.endpoint_url:
            ep = urlsplit(s.endpoint_url)
            items.append(f"ENDPOINT {q(ep.netloc + ep.path.rstrip('/'))}")
            items.append(f"USE_SSL {'false' if ep.scheme == 'http' else 'true'}")
            if s.is_custom_endpoint:
                items.append("URL_STYLE 'path'")
        items.append(f"SCOPE {q('s3://' + self.bucket)}")
        return f"CREATE OR REPLACE SECRET {name} (\n    " + ",\n    ".join(items) + "\n)"

    def duckdb_attach(self, con: Any) -> str:
        """Let a DuckDB connection read this store; returns how: "local", "httpfs" (the extension is installed:
        a secret is created) or "fsspec" (this s3fs filesystem registered with ``con.register_filesystem``, so
        ``read_parquet('s3://…')`` goes through Python; slower, but needs no download)."""
        if self.is_local:
            return "local"
        installed = con.execute(  # fetchall: DuckDB 2 refuses new work while a result is half-read
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchall()
        if installed and installed[0][0]:
            con.execute("LOAD httpfs")
            con.execute(self.duckdb_setup_sql())
            return "httpfs"
        con.register_filesystem(self.fs)
        return "fsspec"


# -- errors and retries ------------------------------------------------------------------------------------------

def _error_code(exc: BaseException) -> tuple[str, int]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, status
    return "", 0


def _is_not_found(exc: BaseException) -> bool:
    code, status = _error_code(exc)
    return status == 404 or code in ("NoSuchKey", "404", "NotFound") or isinstance(exc, FileNotFoundError)


def _is_precondition_failed(exc: BaseException) -> bool:
    code, status = _error_code(exc)
    return status == 412 or code == "PreconditionFailed"


def _is_not_implemented(exc: BaseException) -> bool:
    code, status = _error_code(exc)
    return status == 501 or code == "NotImplemented"


def _is_transient(exc: BaseException, retry_conflicts: bool = False) -> bool:
    code, status = _error_code(exc)
    if status or code:
        if code == "ConditionalRequestConflict" or status == 409:
            return retry_conflicts
        return status >= 500 or status == 429 or code in _TRANSIENT_CODES
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
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNO


def _backoff(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    return min(cap, base * 2**attempt) * (0.5 + random.random() / 2)


async def _with_retries(call: Any, attempts: int = 4, retry_conflicts: bool = False) -> Any:
    """Await call() with exponential backoff on transient errors (on top of botocore's own standard retries,
    which do not cover a body cut short or a server that keeps resetting connections)."""
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:
            if attempt + 1 < attempts and _is_transient(exc, retry_conflicts):
                await asyncio.sleep(_backoff(attempt))
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _close_body(body: Any) -> None:
    closer = getattr(body, "aclose", None) or getattr(body, "close", None)
    if closer is None:  # pragma: no cover
        return
    result = closer()
    if asyncio.iscoroutine(result):
        await result


def describe_error(exc: BaseException, key: str | None = None) -> str:
    """A short error text: not_found / forbidden / <code or class>: message."""
    code, status = _error_code(exc)
    if _is_not_found(exc):
        return f"not_found: {key}" if key is not None else f"not_found: {exc}"
    if status == 403 or code in ("AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return f"forbidden: {code or status}"
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}".strip()
    return f"{type(exc).__name__}: {exc}"
