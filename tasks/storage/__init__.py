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
(tests/bench/bench_obstore.py: 3,000 × 4 KiB, 32 in flight, 3 rounds interleaved, a loaded 2-core machine): it read
446 objects/s against 103 (328 µs CPU an object against 1,880), and it gives create-if-absent (1 winner of 20 racing
writers) and replace-if-version (412 when stale) — but no delete-if-version, which the writer lease's release needs.
Not as safe, so not switched: S3 stays on s3fs, whose filesystem pyarrow and DuckDB read through too. Reading raw
objects through obstore alone is the part worth taking up (its errors would need mapping to the failures texts).
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
