"""`Store`: the one interface to a place holding objects, and the factory choosing its implementation from the URL.

``Store(url)`` gives a `LocalStore` for a folder path or file:// URL and an `S3Store` for s3://bucket/prefix; callers
never ask which (the operations below are the whole contract). Keys are relative to the root, '/'-separated, kept
exactly as the storage names them (spaces, Chinese, a literal ``%2F`` stay as they are). A store pickles as its URL
and settings (process and Dask workers rebuild the client), and its repr shows only the URL.
"""

from __future__ import annotations

import abc
import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import polars as pl

from tasks.storage.errors import StorageError
from tasks.storage.settings import S3Settings, redact

DEFAULT_MAX_BYTES = 64 * 1024**2
TMP_PREFIX = "_tmp"  # local temporary files and lock files: outside every table folder
LISTING_SCHEMA = pl.Schema({"key": pl.String, "size": pl.Int64, "etag": pl.String})

# read_many's answer for one key: (key, bytes, None), or (key, None, the error: str(error) is its short text)
ReadResult = tuple[str, bytes | None, StorageError | None]

_BACKSLASH_TO_DOUBLE = re.compile(r"\\(?=\\|x[0-9a-f]{2}|[\udc80-\udcff])")  # in a local name (encode_name)
_ESCAPE_RE = re.compile(r"\\\\|\\x([0-9a-f]{2})")  # in a listed key: a doubled backslash, or a byte that is not UTF-8


def _store_from_state(url: str, settings: S3Settings | None) -> Store:
    return Store(url, settings=settings)


class Store(abc.ABC):
    """A place holding objects: a local folder (plain path or file://) or s3://bucket/prefix.

    Writes are whole or not at all (locally a temporary file under ``_tmp/`` then ``os.replace``; on S3 one PUT).
    """

    kind: ClassVar[str]
    url: str
    # the other kind's identity stays empty (flows.pipeline.refuse_overlap compares like with like)
    root: str = ""
    bucket: str = ""
    prefix: str = ""

    def __new__(cls, url: str | os.PathLike[str] | None = None, *, settings: S3Settings | None = None) -> Store:
        if cls is Store:
            cls = _implementation(os.fspath(url) if url is not None else "")
        return super().__new__(cls)

    def __init__(self, url: str | os.PathLike[str], *, settings: S3Settings | None = None) -> None:
        self._settings = settings
        self._fs: Any = None
        self._fs_lock = threading.Lock()
        self.listing_problems: list[tuple[str, str]] = []  # what the last listing could not list (list_objects)

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

    def __reduce__(self) -> tuple[Any, ...]:  # picklable for process and Dask workers: the client is rebuilt there
        return _store_from_state, (self.url, self._settings)

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

    @abc.abstractmethod
    def uri(self, key: str = "") -> str:
        """Full address of a key: s3://bucket/prefix/key, or the local absolute path (for readers like DuckDB)."""

    @abc.abstractmethod
    def fs_path(self, key: str = "") -> str:
        """Path of a key for ``Store.fs`` (fsspec): bucket/prefix/key, or the local absolute path."""

    # -- clients and readers -------------------------------------------------------------------------------------

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (LocalFileSystem or s3fs.S3FileSystem) for readers such as pyarrow and DuckDB."""
        if self._fs is None:
            with self._fs_lock:
                if self._fs is None:
                    self._fs = self._make_fs()
        return self._fs

    @abc.abstractmethod
    def _make_fs(self) -> Any: ...

    @abc.abstractmethod
    def polars_storage_options(self) -> dict[str, str] | None:
        """``storage_options`` for pl.scan_parquet / read_parquet on this store (None locally). Contains the keys:
        pass it on, never print it."""

    @abc.abstractmethod
    def duckdb_setup_sql(self, name: str = "govreports_s3") -> str:
        """``CREATE OR REPLACE SECRET … (TYPE S3 …)`` for DuckDB's httpfs ("" locally). Contains the keys: execute
        it, never print it."""

    @abc.abstractmethod
    def duckdb_attach(self, con: Any) -> str:
        """Let a DuckDB connection read this store; returns how: "local", "httpfs" or "fsspec" (readers.py)."""

    # -- listing -------------------------------------------------------------------------------------------------

    def list_objects(self, prefix: str = "") -> pl.DataFrame:
        """Every object under the root whose key starts with `prefix` (a string prefix, recursive), directories
        skipped: key (relative, '/'-separated), size (Int64), etag (String; locally f"{mtime_ns}-{size}").

        What could not be listed is left out, each with its reason in `self.listing_problems` as (key, reason) after
        the call (a local folder's unsafe or unreadable entries: `LocalStore._list`)."""
        problems: list[tuple[str, str]] = []
        rows = self._list(prefix, problems)
        self.listing_problems = problems
        return pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row").sort("key")

    @abc.abstractmethod
    def _list(self, prefix: str, problems: list[tuple[str, str]]) -> list[tuple[str, int, str]]: ...

    # -- reading -------------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def read_many(self, keys: Sequence[str], *, max_workers: int = 16, max_bytes: int = DEFAULT_MAX_BYTES,
                  attempts: int = 4) -> list[ReadResult]:
        """Read many objects: [(key, data, error)] in the order given; never raises for one key.

        `error` is a `StorageError` whose ``kind`` says what happened and whose text is the short description
        (`describe_error`: "not_found: key", "too_large: N bytes > LIMIT", "InternalError: …"). Objects larger than
        `max_bytes` are not read. Passing troubles are retried by the storage's retry policy (retry.py); `attempts`
        bounds the tries of what botocore does not retry itself (a broken body, a network filesystem's EIO)."""

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; `NotFound` (a FileNotFoundError) when it does not exist."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, version) or None when absent. The version is opaque: the S3 ETag, or locally a SHA-256 of the
        content (not the cheap fingerprint of `list_objects`). Pass it to put_if_match / delete_if_match."""

    # -- writing -------------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write an object whole (readers see all of it or nothing)."""

    @abc.abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects (missing ones are fine). Locally, folders left empty are removed too, like on S3."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; returns how many."""
        keys = self.list_objects(prefix).get_column("key").to_list()
        self.delete(keys)
        return len(keys)

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if no object has that key; True when this call created it."""

    @abc.abstractmethod
    def put_if_match(self, key: str, data: bytes, version: str) -> bool:
        """Replace the object only if it is still at `version` (from read_versioned); True when replaced."""

    @abc.abstractmethod
    def delete_if_match(self, key: str, version: str) -> bool:
        """Delete the object only if it is still at `version`; True when deleted."""

    def clean_tmp(self, max_age_s: float = 24 * 3600) -> int:
        """Remove temporary files left by killed writers; returns how many. Only a local folder has any (S3 writes
        are single PUTs)."""
        return 0


def _implementation(raw: str) -> type[Store]:
    """The Store class for a URL (ValueError for an unsupported one)."""
    parts = urlsplit(raw)
    if parts.scheme in ("s3", "s3a"):
        from tasks.storage.s3 import S3Store

        return S3Store
    if parts.scheme in ("", "file") or (len(parts.scheme) == 1 and os.name == "nt"):
        from tasks.storage.local import LocalStore

        return LocalStore
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}: use a folder path or s3://bucket/prefix")
