"""Object storage for raw reports and the lake: ``Store(url)`` for a local folder or s3://bucket/prefix.

This package is the only code that touches objects. Everything else speaks in *keys* ('/'-separated names relative
to the store's root) through the one interface, `Store` (base.py):

| module | what it holds |
| --- | --- |
| `base.py` | `Store`: the operations, key rules, pickling, and the factory choosing the implementation from the URL |
| `local.py` | `LocalStore`: a folder (atomic writes through ``_tmp/``, flock-guarded conditional writes) |
| `s3.py` | `S3Store`: S3 through s3fs's aiobotocore client (conditional PUT/DELETE, bounded concurrent reads) |
| `errors.py` | `StorageError` with its `ErrorKind` (not found, precondition failed, transient, too large, forbidden), `NotFound`, `describe_error` |
| `retry.py` | the one retry policy: botocore's own for S3 requests, tenacity for what botocore does not cover |
| `settings.py` | `S3Settings` (the environment), the s3fs arguments, `redact` |
| `readers.py` | Polars ``storage_options`` and DuckDB's secret / fsspec registration for an S3 store |

S3 settings come from the environment (`S3Settings`): the standard AWS variables plus an S3-compatible endpoint.
Credentials are never logged: `repr(store)` shows only the URL and every error text is scrubbed.

obstore (Rust object_store, conditional puts built in) was measured against `read_many` on SeaweedFS
(tests/bench/bench_obstore.py); see that file's docstring and the README for the figures and why s3fs stays.
"""

from tasks.storage.base import DEFAULT_MAX_BYTES, LISTING_SCHEMA, TMP_PREFIX, ReadResult, Store
from tasks.storage.errors import ErrorKind, NotFound, StorageError, describe_error
from tasks.storage.local import LocalStore
from tasks.storage.s3 import S3Store
from tasks.storage.settings import S3Settings, redact

__all__ = [
    "DEFAULT_MAX_BYTES", "LISTING_SCHEMA", "TMP_PREFIX", "ErrorKind", "LocalStore", "NotFound", "ReadResult",
    "S3Settings", "S3Store", "Store", "StorageError", "describe_error", "redact",
]
