"""Throughput of Store.read_many against SeaweedFS, next to a bare s3fs `cat(paths)` and a boto3 thread pool.

Run: .venv/bin/python tests/bench_s3_read.py [--objects 2000] [--size 8192] [--rounds 3]
Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import seaweedfs_s3, store_for  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import s3fs

    with seaweedfs_s3() as info:
        print(f"SeaweedFS ready in {info['startup_s']:.1f} s at {info['endpoint_url']}")
        store = store_for(info, "bench")
        keys = [f"raw/{i // 100:03d}/报告 {i:05d}.txt" for i in range(args.objects)]
        payload = os.urandom(args.size)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda k: store.put_bytes(k, payload), keys))
        put_s = time.perf_counter() - t0
        print(f"wrote {len(keys)} × {args.size} B in {put_s:.1f} s ({len(keys) / put_s:.0f} objects/s, 32 threads)")

        bare = s3fs.S3FileSystem(skip_instance_cache=True, **store.s3fs_kwargs())
        paths = [store.fs_path(k) for k in keys]
        import boto3
        from botocore.config import Config

        boto_client = boto3.client(
            "s3", endpoint_url=info["endpoint_url"], aws_access_key_id=info["key"],
            aws_secret_access_key=info["secret"], region_name="us-east-1",
            config=Config(max_pool_connections=64, request_checksum_calculation="when_required",
                          response_checksum_validation="when_required", s3={"addressing_style": "path"}))

        def boto_get(k: str) -> bytes:
            return boto_client.get_object(Bucket=store.bucket, Key=store._full_key(k))["Body"].read()

        def run_read_many(workers: int):
            return lambda: store.read_many(keys, max_workers=workers)

        methods = {
            "Store.read_many (16 in flight)": run_read_many(16),
            "Store.read_many (32 in flight)": run_read_many(32),
            "Store.read_many (64 in flight)": run_read_many(64),
            "s3fs.S3FileSystem.cat(paths)": lambda: bare.cat(paths, on_error="return"),
            "boto3 + ThreadPoolExecutor(16)": lambda: list(ThreadPoolExecutor(16).map(boto_get, keys)),
        }
        results: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, fn in methods.items():
                t0 = time.perf_counter()
                out = fn()
                dt = time.perf_counter() - t0
                n_ok = (sum(1 for _k, d, e in out if d is not None and e is None) if isinstance(out, list)
                        and out and isinstance(out[0], tuple)
                        else sum(1 for v in (out.values() if isinstance(out, dict) else out) if isinstance(v, bytes)))
                assert n_ok == len(keys), (name, n_ok)
                results[name].append(len(keys) / dt)
        print(f"\n{len(keys)} objects of {args.size} B, {args.rounds} rounds (objects/s: best / median)")
        for name, rates in results.items():
            rates.sort()
            print(f"  {name:34s} {rates[-1]:7.0f} / {rates[len(rates) // 2]:7.0f}")


if __name__ == "__main__":
    main()
