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

from tasks.storage import ErrorKind, NotFound, S3Settings, StorageError, Store, errors, local, retry
from tests.faultproxy import FaultProxy
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
    assert config["retries"] == {"max_attempts": 5, "mode": "standard"}
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
    assert got["raw/missing.txt"][0] is None and str(got["raw/missing.txt"][1]) == "not_found: raw/missing.txt"
    assert isinstance(got["raw/missing.txt"][1], NotFound) and got["raw/missing.txt"][1].kind is ErrorKind.NOT_FOUND

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
    data, error = results["big.bin"]
    assert data is None and str(error) == "too_large: 5000 bytes > 4096" and error.kind is ErrorKind.TOO_LARGE
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

    monkeypatch.setattr(local.os, "replace", spy)
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
    assert data is None and str(error).startswith("ValueError: invalid key") and error.kind is ErrorKind.OTHER


# -- retries -----------------------------------------------------------------------------------------------------

def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


def test_transient_errors_are_classified():
    assert errors.is_transient(_client_error("SlowDown", 503))
    assert errors.is_transient(_client_error("InternalError", 500))
    assert errors.is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert errors.is_transient(ConnectionResetError())
    assert errors.is_transient(TimeoutError())
    assert not errors.is_transient(_client_error("NoSuchKey", 404))
    assert not errors.is_transient(_client_error("AccessDenied", 403))


class _Body:
    """A response body whose read fails with `fail` (then serves `data` on a later GET)."""

    def __init__(self, data: bytes, fail: BaseException | None = None) -> None:
        self.data, self.fail = data, fail

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def read(self) -> bytes:
        if self.fail is not None:
            raise self.fail
        return self.data

    async def aclose(self) -> None:
        return None


class _FlakyClient:
    """Stands for the aiobotocore client *after* botocore's own retries: a request error it raises is final. Each
    key's first two bodies break off (reset, short read: botocore does not retry those), 'gone' is 404, 'slow'
    answers 503 SlowDown (botocore's to retry, so never retried again), 'busy' answers 429 TooManyRequests once."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def get_object(self, Bucket: str, Key: str):  # noqa: N803 - boto's names
        from botocore.exceptions import IncompleteReadError

        n = self.calls[Key] = self.calls.get(Key, 0) + 1
        if Key.endswith("gone"):
            raise _client_error("NoSuchKey", 404)
        if Key.endswith("slow"):
            raise _client_error("SlowDown", 503)
        if Key.endswith("busy") and n == 1:
            raise _client_error("TooManyRequests", 429)
        fail = {1: ConnectionResetError("reset by peer"), 2: IncompleteReadError(actual_bytes=1, expected_bytes=5)}
        return {"Body": _Body(Key.encode(), fail.get(n) if not Key.endswith("busy") else None),
                "ContentLength": len(Key)}


@pytest.fixture
def no_waits(monkeypatch):
    from tenacity import wait_none

    monkeypatch.setattr(retry, "_WAIT", wait_none())


def test_read_many_retries_what_botocore_does_not(no_waits):
    store = Store("s3://bucket/pre", settings=S3Settings(endpoint_url="http://unused:1"))
    client = _FlakyClient()
    out = asyncio.run(store._read_many(client, ["a", "b", "gone", "slow", "busy"], 2, 1000, 4))
    assert out[:2] == [("a", b"pre/a", None), ("b", b"pre/b", None)]
    assert out[4] == ("busy", b"pre/busy", None)
    (_k, data, gone), (_k2, data2, slow) = out[2], out[3]
    assert data is None and isinstance(gone, NotFound) and str(gone) == "not_found: gone"
    assert data2 is None and str(slow) == "SlowDown: SlowDown" and slow.kind is ErrorKind.TRANSIENT
    # one layer per failure: broken bodies and 429 by tenacity; a 404 or a 503 (botocore's) tried once here
    assert client.calls == {"pre/a": 3, "pre/b": 3, "pre/gone": 1, "pre/slow": 1, "pre/busy": 2}
    client = _FlakyClient()
    (key, data, error), = asyncio.run(store._read_many(client, ["c"], 2, 1000, 2))  # gives up after 2 tries
    assert data is None and str(error) == "IncompleteReadError: 1 read, but total bytes expected is 5."
    assert error.kind is ErrorKind.TRANSIENT and client.calls == {"pre/c": 2}


def test_errors_pickle_with_their_kind():
    for error in (StorageError("put s3://b/k: InternalError: x", ErrorKind.TRANSIENT), NotFound("not_found: k")):
        back = pickle.loads(pickle.dumps(error))
        assert (type(back), str(back), back.kind) == (type(error), str(error), error.kind)
    assert isinstance(NotFound("x"), FileNotFoundError) and isinstance(StorageError("x"), OSError)
    assert errors.classify(_client_error("PreconditionFailed", 412)) is ErrorKind.PRECONDITION_FAILED
    assert errors.classify(_client_error("AccessDenied", 403)) is ErrorKind.FORBIDDEN
    assert errors.classify(_client_error("ConditionalRequestConflict", 409)) is ErrorKind.TRANSIENT
    assert retry.retry_s3_conditional(_client_error("ConditionalRequestConflict", 409))
    assert not retry.retry_s3(_client_error("ConditionalRequestConflict", 409))  # a plain write's 409 is final


# -- typed errors, on both kinds of store ------------------------------------------------------------------------

def test_local_errors_are_typed_and_passing_ones_retried(tmp_path, monkeypatch, no_waits):
    import errno

    store = Store(tmp_path / "lake")
    store.put_bytes("a.txt", b"payload")
    with pytest.raises(NotFound, match="not_found: "):
        store.get_bytes("missing.txt")
    assert store.read_versioned("missing.txt") is None
    store.put_bytes("lease.json", b"v1")
    _data, v1 = store.read_versioned("lease.json")
    store.put_bytes("lease.json", b"v2")
    assert not store.put_if_match("lease.json", b"v3", v1) and not store.delete_if_match("lease.json", v1)

    opens: list[str] = []
    real_open = open

    def flaky_open(path, *args, fails: int, **kwargs):  # a network filesystem's ESTALE / EIO
        opens.append(str(path))
        if len(opens) <= fails:
            raise OSError(errno.ESTALE if len(opens) % 2 else errno.EIO, "Stale file handle", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(local, "open", lambda *a, **k: flaky_open(*a, fails=2, **k), raising=False)
    assert store.read_many(["a.txt"]) == [("a.txt", b"payload", None)] and len(opens) == 3
    opens.clear()
    assert store.get_bytes("a.txt") == b"payload" and len(opens) == 3
    monkeypatch.setattr(local, "open", lambda *a, **k: flaky_open(*a, fails=99, **k), raising=False)
    opens.clear()
    (_key, data, error), = store.read_many(["a.txt"], attempts=3)
    assert data is None and error.kind is ErrorKind.TRANSIENT and len(opens) == 3
    assert str(error).startswith("OSError: [Errno 116] Stale file handle")
    opens.clear()
    with pytest.raises(StorageError) as raised:
        store.get_bytes("a.txt")
    assert raised.value.kind is ErrorKind.TRANSIENT and len(opens) == retry.ATTEMPTS
    assert type(raised.value) is StorageError and str(raised.value).startswith(f"get {store.uri('a.txt')}: OSError")


def test_s3_errors_are_typed_and_transient_ones_retried_by_botocore_alone(no_waits):
    with moto_s3() as info, FaultProxy(info["endpoint_url"], seed=3) as proxy:
        settings = S3Settings(endpoint_url=proxy.url, access_key_id=info["key"], secret_access_key=info["secret"],
                              region="us-east-1", max_attempts=3)
        store = Store(f"s3://{info['bucket']}/typed", settings=settings)
        store.put_bytes("a.txt", b"payload")
        with pytest.raises(NotFound, match="not_found: s3://"):
            store.get_bytes("missing.txt")
        (_k, data, missing), = store.read_many(["missing.txt"])
        assert data is None and isinstance(missing, NotFound) and str(missing) == "not_found: missing.txt"
        _data, v1 = store.read_versioned("a.txt")
        store.put_bytes("a.txt", b"changed")
        assert not store.put_if_match("a.txt", b"x", v1) and not store.delete_if_match("a.txt", v1)  # 412s

        # two 500s, then the answer: botocore's retries (max_attempts=3: 3 retries after the first try) cover it
        proxy.configure(share=1.0, faults={"500": 1}, methods=["GET"], max_faults=2)
        assert store.get_bytes("a.txt") == b"changed" and proxy.counts["500"] == 2
        # 500s for good: each request tried exactly 1 + max_attempts times (no loop stacked on botocore's: 16 before),
        # then a typed error
        proxy.configure(share=1.0, faults={"500": 1}, methods=["GET", "PUT"], max_faults=None)
        proxy.reset_counts()
        (_k, data, error), = store.read_many(["a.txt"])
        assert data is None and error.kind is ErrorKind.TRANSIENT and proxy.counts["500"] == 4
        assert str(error) == "InternalError: We encountered an internal error. Please try again."
        proxy.reset_counts()
        with pytest.raises(StorageError) as raised:
            store.put_bytes("b.txt", b"x")
        assert raised.value.kind is ErrorKind.TRANSIENT and proxy.counts["500"] == 4
        assert type(raised.value) is StorageError  # its class name is part of a failed batch's text in the lake
        assert str(raised.value) == f"put {store.uri('b.txt')}: InternalError: We encountered an internal error. " \
                                    "Please try again."
        proxy.off()
        assert store.get_bytes("a.txt") == b"changed"


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
        (key, data, error), = store.read_many(["报告 1.txt"], max_bytes=2)
        assert (key, data, str(error), error.kind) == ("报告 1.txt", None, "too_large: 3 bytes > 2", ErrorKind.TOO_LARGE)
