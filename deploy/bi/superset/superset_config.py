"""Superset's configuration for the govreports dashboards (SUPERSET_CONFIG_PATH points here).

Everything that differs between a laptop and production comes from the environment:

| variable | meaning | default |
|---|---|---|
| SUPERSET_SECRET_KEY | signs sessions and encrypts stored database passwords; required | none: Superset refuses to start |
| SUPERSET_HOME | folder of the metadata database (SQLite) when SUPERSET_METADATA_URI is unset | ~/.superset |
| SUPERSET_METADATA_URI | SQLAlchemy URI of the metadata database (PostgreSQL in production) | sqlite in SUPERSET_HOME |
| GOVREPORTS_LAKE | the lake the DuckDB file's views read: a folder or s3://bucket/prefix (for S3, see below) | unset: local |

The DuckDB file itself is named in the imported database's URI (tasks/report/superset.py rewrites it at import). For a lake
on S3, the views read s3:// paths; DuckDB's httpfs extension cannot be downloaded on an offline machine, so every
DuckDB connection Superset opens gets the s3fs filesystem registered instead (duckdb-engine's
``register_filesystems``), built from the same variables the pipeline reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION, GOVREPORTS_S3_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
from pathlib import Path

_ENV = os.environ
SECRET_KEY = _ENV["SUPERSET_SECRET_KEY"]
_HOME = Path(os.environ.get("SUPERSET_HOME") or Path.home() / ".superset")
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URI") or f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"



def _sqlite_metadata_pragmas() -> None:
    """SQLite metadata (the laptop default): WAL, so a worker reads while another writes, and synchronous=NORMAL,
    so a commit is not an fsync (set-up runs ~400 migrations, each committed; durable but for a power cut)."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_connection, _record):  # every engine; only SQLite connections are touched
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


if SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
    _sqlite_metadata_pragmas()

# No telemetry, no outside calls: the machines are offline and the dashboards need none.
SHOW_STACKTRACE = False
ENABLE_PROXY_FIX = os.environ.get("SUPERSET_PROXY_FIX", "") == "1"
RATELIMIT_STORAGE_URI = "memory://"
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False, "EMBEDDED_SUPERSET": False}
# Superset warns about (and in some releases blocks) uploads and DML against the analytics database: none here.
PREVENT_UNSAFE_DB_CONNECTIONS = True
# Chinese labels are data; the interface stays in the language the browser asks for (en, zh among them).
LANGUAGES = {"en": {"flag": "us", "name": "English"}, "zh": {"flag": "cn", "name": "简体中文"}}
BABEL_DEFAULT_LOCALE = os.environ.get("SUPERSET_LOCALE", "en")
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
# A cold DuckDB scan of a large lake on S3 can take a while.
SUPERSET_WEBSERVER_TIMEOUT = int(os.environ.get("SUPERSET_WEBSERVER_TIMEOUT", "120"))


_S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _s3_filesystem():  # pragma: no cover - only with a lake on S3
    import s3fs

    endpoint = (os.environ.get("GOVREPORTS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL"))
    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        client_kwargs["region_name"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    config_kwargs = {"s3": {"addressing_style": "path"}} if endpoint else {}
    # key, secret, token from the variables the pipeline reads (none set: botocore's default chain)
    credentials = dict(zip(("key", "secret", "token"), (_ENV.get(v) for v in _S3_CREDENTIALS), strict=True))
    return s3fs.S3FileSystem(**credentials, client_kwargs=client_kwargs, config_kwargs=config_kwargs)


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # noqa: N802 (Superset's name)
    """Open the govreports DuckDB file read-only (so gunicorn workers share it), and give it s3fs for a lake on S3."""
    if uri.drivername.startswith("duckdb"):
        connect_args = params.setdefault("connect_args", {})
        connect_args["read_only"] = True
        if os.environ.get("GOVREPORTS_LAKE", "").startswith(("s3://", "s3a://")):
            connect_args["register_filesystems"] = [_s3_filesystem()]
    return uri, params
