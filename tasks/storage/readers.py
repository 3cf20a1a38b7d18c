"""Reader settings for an S3 store: Polars' ``storage_options`` and DuckDB's secret or fsspec registration.

Polars (object_store, in Rust) and DuckDB (httpfs, in C++) do not go through s3fs: they get the same endpoint,
region and keys in their own spelling. Every value returned here may contain the keys: pass it on, never print it.
A local store needs none of this (`Store.polars_storage_options` is None there, `duckdb_attach` says "local").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tasks.storage.settings import S3Settings


def polars_storage_options(s: S3Settings) -> dict[str, str]:
    """``storage_options`` for pl.scan_parquet / read_parquet on an S3 store with these settings."""
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


def duckdb_setup_sql(s: S3Settings, bucket: str, name: str = "govreports_s3") -> str:
    """``CREATE OR REPLACE SECRET … (TYPE S3 …)`` for DuckDB's httpfs, scoped to the bucket. (DuckDB downloads
    httpfs at run time; offline, use `duckdb_attach`.)"""

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
    items.append(f"SCOPE {q('s3://' + bucket)}")
    return f"CREATE OR REPLACE SECRET {name} (\n    " + ",\n    ".join(items) + "\n)"


def duckdb_attach(con: Any, s: S3Settings, bucket: str, fs: Any) -> str:
    """Let a DuckDB connection read an S3 store; returns how: "httpfs" (the extension is installed: a secret is
    created) or "fsspec" (the store's s3fs filesystem registered with ``con.register_filesystem``, so
    ``read_parquet('s3://…')`` goes through Python; slower, but needs no download)."""
    installed = con.execute(  # fetchall: DuckDB 2 refuses new work while a result is half-read
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchall()
    if installed and installed[0][0]:
        con.execute("LOAD httpfs")
        con.execute(duckdb_setup_sql(s, bucket))
        return "httpfs"
    con.register_filesystem(fs)
    return "fsspec"
