"""Store: a local folder and SeaweedFS (S3) behave the same — keys kept exactly, reads bounded, writes atomic."""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tasks import storage
from tasks.storage import S3Settings, Store
from tests.servers import moto_s3, server_env, store_for

ODD_KEYS = ["raw/2024/报告 一.txt", "raw/2024/a%2Fb.txt", "raw/with space/x y.html", "top.txt"]


# -- settings, identity ------------------------------------------------------------------------------------------

def test_urls_and_repr_hide_credentials(tmp_path):
    settings = S3Settings(endpoint_url="http://127.0.0.1:9000", access_key_id="AKIDEXAMPLE",
                          secret_access_key="very-secret-value", session_token="session-token-value")
    s3 = Store("s3://bucket/some/prefix/", settings=settings)
    assert (s3.bucket, s3.prefix, s3.url) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    assert s3.uri("a b/报告.txt") == "s3://bucket/some/prefix/a b/报告.txt"
    assert s3.fs_path("k") == "bucket/some/prefix/k"
    for text in (repr(s3), str(s3), repr(settings), str(settings)):
        assert "very-secret-value" not in text and "AKIDEXAMPLE" not in text and "session-token" not in text
    local = Store(f"file://{tmp_path}/lake")
    assert local.is_local and local.root == str(tmp_path / "lake")
    assert Store(tmp_path / "lake") == local
    assert Store.join("a/", "/b", "", "c %2F d") == "a/b/c %2F d"
    with pytest.raises(ValueError):
        Store("gs://bucket/x")
    with pytest.raises(ValueError):
        Store("s3://key:secret@bucket/x")


def test_settings_from_environment(monkeypatch):
    for name in ("GOVREPORTS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    s = S3Settings()
    assert s.endpoint_url == "http://s3-specific:2" and s.region == "cn-north-1"
    assert s.access_key_id is not None and s.access_key_id.get_secret_value() == "env-key-id"
    monkeypatch.setenv("GOVREPORTS_S3_ENDPOINT_URL", "http://ours:3")
    assert S3Settings().endpoint_url == "http://ours:3"

    kwargs = Store("s3://b/p").s3fs_kwargs()
    config = kwargs["config_kwargs"]
    assert config["retries"] == {"max_attempts": 4, "mode": "standard"}
    assert config["connect_timeout"] == 10 and config["read_timeout"] == 60
    assert config["request_checksum_calculation"] == "when_required"  # a non-AWS endpoint
    assert config["s3"] == {"addressing_style": "path"}
    assert kwargs["endpoint_url"] == "http://ours:3" and kwargs["secret"] == "env-secret-key"
    assert "env-secret-key" not in Store.redact("failed: env-secret-key at s3://u:p@host/x?X-Amz-Signature=abc")
    assert Store.redact("s3://u:p@host/x?X-Amz-Signature=abc&b=1") == "s3://***@host/x?X-Amz-Signature=***&b=1"


def test_reader_settings_never_need_printing():
    settings = S3Settings(endpoint_url="http://127.0.0.1:8333", access_key_id="kid", secret_access_key="sec'ret")
    s3 = Store("s3://lake-bucket/lake", settings=settings)
    opts = s3.polars_storage_options()
    assert opts == {"aws_endpoint_url": "http://127.0.0.1:8333", "aws_allow_http": "true",
                    "aws_virtual_hosted_style_request": "false", "aws_region": "us-east-1",
                    "aws_access_key_id": "kid", "aws_secret_access_key": "sec'ret"}
    sql = s3.duckdb_setup_sql()
    assert "TYPE S3" in sql and "ENDPOINT '127.0.0.1:8333'" in sql and "USE_SSL false" in sql
    assert "URL_STYLE 'path'" in sql and "SECRET 'sec''ret'" in sql and "SCOPE 's3://lake-bucket'" in sql
    assert Store("/tmp/x").polars_storage_options() is None


def test_store_pickles_without_its_client(tmp_path):
    s3 = Store("s3://b/p", settings=S3Settings(endpoint_url="http://h:1", access_key_id="k", secret_access_key="s"))
    back = pickle.loads(pickle.dumps(s3))
    assert back == s3 and back.settings.endpoint_url == "http://h:1" and back._fs is None


# -- objects -----------------------------------------------------------------------------------------------------

def test_put_list_read_delete_keep_keys_exactly(store):
    payloads = {k: f"内容 {i}".encode() * (i + 1) for i, k in enumerate(ODD_KEYS)}
    for key, data in payloads.items():
        store.put_bytes(key, data)
    store.put_bytes("raw/empty.txt", b"")

    listing = store.list_objects()
    assert listing.schema == pl.Schema({"key": pl.String, "size": pl.Int64, "etag": pl.String})
    assert listing.get_column("key").to_list() == sorted([*ODD_KEYS, "raw/empty.txt"])
    sizes = dict(listing.select("key", "size").iter_rows())
    assert all(sizes[k] == len(v) for k, v in payloads.items()) and sizes["raw/empty.txt"] == 0
    assert listing.get_column("etag").null_count() == 0
    assert store.list_objects("raw/2024/").get_column("key").to_list() == sorted(ODD_KEYS[:2])
    assert store.list_objects("raw/2024/报").get_column("key").to_list() == ["raw/2024/报告 一.txt"]
    assert store.list_objects("nothing/").is_empty()

    keys = [*reversed(ODD_KEYS), "raw/missing.txt", "raw/empty.txt"]
    results = store.read_many(keys, max_workers=3)
    assert [k for k, _d, _e in results] == keys  # order kept
    got = {k: (d, e) for k, d, e in results}
    assert all(got[k] == (payloads[k], None) for k in ODD_KEYS)
    assert got["raw/empty.txt"] == (b"", None)
    assert got["raw/missing.txt"][0] is None and got["raw/missing.txt"][1].startswith("not_found")

    assert store.get_bytes(ODD_KEYS[0]) == payloads[ODD_KEYS[0]]
    assert store.exists(ODD_KEYS[1]) and not store.exists("raw/missing.txt")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("raw/missing.txt")

    store.put_bytes(ODD_KEYS[0], b"replaced")
    assert store.get_bytes(ODD_KEYS[0]) == b"replaced"
    store.delete([ODD_KEYS[0], ODD_KEYS[1], "raw/never-existed"])
    assert store.list_objects().get_column("key").to_list() == sorted([ODD_KEYS[2], ODD_KEYS[3], "raw/empty.txt"])
    assert store.delete_prefix("raw/") == 2
    assert store.list_objects().get_column("key").to_list() == ["top.txt"]


def test_too_large_objects_are_refused_unread(store):
    store.put_bytes("big.bin", b"x" * 5000)
    store.put_bytes("small.bin", b"y" * 10)
    results = dict((k, (d, e)) for k, d, e in store.read_many(["big.bin", "small.bin"], max_bytes=4096))
    assert results["big.bin"] == (None, "too_large: 5000 bytes > 4096")
    assert results["small.bin"] == (b"y" * 10, None)


def test_read_many_many_keys(store):
    keys = [f"many/{i:03d}.txt" for i in range(120)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put_bytes(k, k.encode()), keys))
    results = store.read_many(keys, max_workers=16)
    assert [(k, d, e) for k, d, e in results] == [(k, k.encode(), None) for k in keys]


def test_put_if_absent_has_one_winner(store):
    assert store.put_if_absent("locks/a.json", b"first")
    assert not store.put_if_absent("locks/a.json", b"second")
    assert store.get_bytes("locks/a.json") == b"first"

    barrier = threading.Barrier(8)

    def contend(i: int) -> bool:
        barrier.wait()
        return store.put_if_absent("locks/race.json", f"writer {i}".encode())

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(contend, range(8)))
    assert sum(wins) == 1
    assert store.get_bytes("locks/race.json") == f"writer {wins.index(True)}".encode()


def test_conditional_replace_and_delete(store):
    store.put_bytes("lease.json", b"v1")
    data, v1 = store.read_versioned("lease.json")
    assert data == b"v1"
    assert store.put_if_match("lease.json", b"v2", v1)
    assert not store.put_if_match("lease.json", b"v3", v1)  # stale version
    assert store.get_bytes("lease.json") == b"v2"
    assert not store.delete_if_match("lease.json", v1)
    _, v2 = store.read_versioned("lease.json")
    assert store.delete_if_match("lease.json", v2)
    assert store.read_versioned("lease.json") is None
    assert not store.put_if_match("lease.json", b"v4", v2)  # gone
    assert not store.exists("lease.json")


# -- local specifics ---------------------------------------------------------------------------------------------

def test_local_writes_go_through_tmp_outside_the_target_folder(tmp_path, monkeypatch):
    store = Store(tmp_path / "lake")
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", spy)
    store.put_bytes("reports/year=2024/admin_level=county/part-0.parquet", b"data")
    (src, dst), = seen
    assert src.startswith(str(tmp_path / "lake" / "_tmp")) and dst.endswith("part-0.parquet")
    assert os.listdir(tmp_path / "lake" / "_tmp") == []  # nothing left behind
    store.delete(["reports/year=2024/admin_level=county/part-0.parquet"])
    assert not (tmp_path / "lake" / "reports").exists()  # emptied folders go too, like on S3


def test_local_listing_skips_directories_only(tmp_path):
    root = tmp_path / "src"
    (root / "empty dir").mkdir(parents=True)
    (root / "d").mkdir()
    (root / "d" / ".hidden").write_bytes(b"h")
    (root / "d" / "x.meta.json").write_bytes(b"{}")
    listing = Store(root).list_objects()
    assert listing.get_column("key").to_list() == ["d/.hidden", "d/x.meta.json"]
    st = os.stat(root / "d" / ".hidden")
    assert listing.get_column("etag")[0] == f"{st.st_mtime_ns}-{st.st_size}"
    assert Store(tmp_path / "absent").list_objects().is_empty()


def test_local_keys_cannot_escape_the_root(tmp_path):
    store = Store(tmp_path / "root")
    for bad in ("../x", "a/../../x", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            store.put_bytes(bad, b"x")
    (key, data, error), = store.read_many(["../x"])
    assert data is None and error.startswith("ValueError")


# -- retries -----------------------------------------------------------------------------------------------------

def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


def test_transient_errors_are_classified():
    assert storage._is_transient(_client_error("SlowDown", 503))
    assert storage._is_transient(_client_error("InternalError", 500))
    assert storage._is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert storage._is_transient(ConnectionResetError())
    assert storage._is_transient(TimeoutError())
    assert not storage._is_transient(_client_error("NoSuchKey", 404))
    assert not storage._is_transient(_client_error("AccessDenied", 403))


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def read(self) -> bytes:
        return self.data

    async def aclose(self) -> None:
        return None


class _FlakyClient:
    """Fails each key's first two GETs with a retryable error, then serves it; 'gone' is always 404."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def get_object(self, Bucket: str, Key: str):  # noqa: N803 - boto's names
        n = self.calls[Key] = self.calls.get(Key, 0) + 1
        if Key.endswith("gone"):
            raise _client_error("NoSuchKey", 404)
        if n == 1:
            raise _client_error("SlowDown", 503)
        if n == 2:
            raise ConnectionResetError("reset by peer")
        return {"Body": _Body(Key.encode()), "ContentLength": len(Key)}


def test_read_many_retries_transient_errors_per_key(monkeypatch):
    monkeypatch.setattr(storage, "_backoff", lambda attempt: 0.0)
    store = Store("s3://bucket/pre", settings=S3Settings(endpoint_url="http://unused:1"))
    client = _FlakyClient()
    out = asyncio.run(store._s3_read_many(client, ["a", "b", "gone"], 2, 1000, 4))
    assert out[:2] == [("a", b"pre/a", None), ("b", b"pre/b", None)]
    assert out[2] == ("gone", None, "not_found: gone")
    assert client.calls == {"pre/a": 3, "pre/b": 3, "pre/gone": 1}
    client = _FlakyClient()
    (key, data, error), = asyncio.run(store._s3_read_many(client, ["c"], 2, 1000, 2))  # gives up after 2 tries
    assert data is None and "reset by peer" in error


@pytest.mark.slow
def test_seaweedfs_accepts_any_credentials_and_conditional_writes(weed):
    store = store_for(dict(weed, key="someone-else", secret="anything-at-all"), "creds")
    store.put_bytes("x", b"1")
    assert store.get_bytes("x") == b"1"
    assert store.put_if_absent("y", b"1") and not store.put_if_absent("y", b"2")
    assert weed["startup_s"] < 60


def test_moto_server_and_environment_settings(monkeypatch):
    with moto_s3() as info:
        for name, value in server_env(info).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("GOVREPORTS_S3_ENDPOINT_URL", raising=False)
        store = Store(f"s3://{info['bucket']}/env")  # settings from the environment, as flows build it
        store.put_bytes("报告 1.txt", b"abc")
        assert store.put_if_absent("lock", b"1") and not store.put_if_absent("lock", b"2")
        assert store.list_objects().get_column("key").to_list() == ["lock", "报告 1.txt"]
        assert store.read_many(["报告 1.txt"], max_bytes=2) == [("报告 1.txt", None, "too_large: 3 bytes > 2")]
