"""obstore (Rust object_store, conditional puts built in) against `Store.read_many` (s3fs/aiobotocore) on SeaweedFS.

Speed: the same small objects read by both, interleaved (A, B, A, B …) for `--rounds` rounds, medians; both with at
most `--workers` GETs in flight (the pipeline's read_workers, 32). Safety: the conditional operations the lake's
commit and lease rely on, checked on the same server: create-if-absent with racing writers (exactly one winner),
replace-if-version (a stale version refused), and delete-if-version (the lease's release), which object_store does
not offer.

Run: .venv/bin/python tests/bench/bench_obstore.py [--objects 3000] [--size 4096] [--rounds 3] [--workers 32]

Measured here (obstore 0.12.1, s3fs 2026.9.0 / aiobotocore 3.10.0, SeaweedFS 4.48; 3,000 × 4 KiB, 32 in flight,
3 rounds interleaved, medians; the 2 cores were shared with other work, load average 16-18, so absolute rates are
low and the CPU time is the steadier figure):

    Store.read_many (s3fs/aiobotocore)   103 objects/s [103-134]   1,880 µs CPU an object
    obstore.get_async + gather           446 objects/s [354-542]     328 µs CPU an object
    (an earlier run, same load: 151 vs 807 objects/s)

    create if absent, 20 racing writers   obstore: 1 winner      Store: 1 winner
    replace if version, stale version     obstore: refused (412) Store: refused (412)
    delete if version                     obstore: not offered   Store: DELETE If-Match (412 when stale)

So obstore reads ~4× faster for ~6× less CPU, but it is not as safe for this lake: it cannot delete an object only
if it is still at a version, which the writer lease's release needs (tasks/lake: a release must not delete a lease
another run took over). The storage stays on s3fs (`tasks/storage/s3.py`), whose filesystem pyarrow and DuckDB also
read through. Reading the raw objects through obstore alone (reads need no precondition) is the part worth taking
up on its own: it would need its errors mapped to the failures table's texts ("not_found: key", "InternalError:
…"), which must not change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.servers import seaweedfs_s3, store_for  # noqa: E402


def obstore_store(info: dict[str, Any], prefix: str) -> Any:
    from obstore.store import S3Store

    return S3Store(info["bucket"], prefix=prefix,
                   config={"endpoint": info["endpoint_url"], "access_key_id": info["key"],
                           "secret_access_key": info["secret"], "region": "us-east-1",
                           "virtual_hosted_style_request": False},
                   client_options={"allow_http": True, "pool_max_idle_per_host": "64"})


def obstore_read_many(ob: Any, keys: list[str], workers: int, max_bytes: int) -> list[tuple[str, bytes | None, Any]]:
    """What read_many does, with obstore: bounded concurrent GETs, the size checked from the answer's head."""
    import obstore

    async def run() -> list[tuple[str, bytes | None, Any]]:
        sem = asyncio.Semaphore(workers)

        async def one(key: str) -> tuple[str, bytes | None, Any]:
            async with sem:
                try:
                    result = await obstore.get_async(ob, key)
                    if result.meta["size"] > max_bytes:
                        return key, None, "too_large"
                    return key, bytes(await result.bytes_async()), None
                except Exception as exc:  # noqa: BLE001 - one key's error is its result
                    return key, None, exc

        return list(await asyncio.gather(*(one(k) for k in keys)))

    return asyncio.run(run())


def check_conditional_semantics(store: Any, ob: Any) -> dict[str, str]:
    """The lake's conditional operations with obstore on the server: what holds and what is missing."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    out: dict[str, str] = {}
    barrier = threading.Barrier(20)

    def contend(i: int) -> bool:
        barrier.wait()
        try:
            obstore.put(ob, "cond/race.json", f"writer {i}".encode(), mode="create")
            return True
        except AlreadyExistsError:
            return False

    with ThreadPoolExecutor(20) as pool:
        wins = list(pool.map(contend, range(20)))
    out["create if absent, 20 racing writers"] = f"{sum(wins)} winner(s)"
    assert sum(wins) == 1, wins
    assert bytes(obstore.get(ob, "cond/race.json").bytes()) == f"writer {wins.index(True)}".encode()

    first = obstore.put(ob, "cond/lease.json", b"v1")
    obstore.put(ob, "cond/lease.json", b"v2", mode={"e_tag": first["e_tag"]})
    try:
        obstore.put(ob, "cond/lease.json", b"v3", mode={"e_tag": first["e_tag"]})
        out["replace if version (stale)"] = "WRITTEN: not safe"
    except PreconditionError:
        out["replace if version (stale)"] = "refused (412)"
    out["delete if version"] = ("not offered: obstore.delete(store, path) takes no precondition (the lease's "
                                "release needs DELETE If-Match)")
    # the same three with Store, for the record
    assert store.put_if_absent("cond/store.json", b"1") and not store.put_if_absent("cond/store.json", b"2")
    _data, v1 = store.read_versioned("cond/store.json")
    assert store.put_if_match("cond/store.json", b"2", v1) and not store.put_if_match("cond/store.json", b"3", v1)
    assert not store.delete_if_match("cond/store.json", v1)
    out["Store: create / replace / delete if version"] = "all three, 412 when stale"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=3000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()

    with seaweedfs_s3() as info:
        print(f"SeaweedFS ready in {info['startup_s']:.1f} s at {info['endpoint_url']}")
        store = store_for(info, "bench")
        ob = obstore_store(info, "bench")
        keys = [f"raw/{i // 100:03d}/报告 {i:05d}.txt" for i in range(args.objects)]
        payloads = {k: os.urandom(args.size) for k in keys}
        t0 = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda k: store.put_bytes(k, payloads[k]), keys))
        print(f"wrote {len(keys)} × {args.size} B in {time.perf_counter() - t0:.1f} s")

        limit = 64 * 1024**2
        methods = {
            "Store.read_many (s3fs/aiobotocore)": lambda: store.read_many(keys, max_workers=args.workers, max_bytes=limit),
            "obstore.get_async + gather": lambda: obstore_read_many(ob, keys, args.workers, limit),
        }
        rates: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        for fn in methods.values():  # warm-up: clients, connection pools
            fn()
        for _ in range(args.rounds):
            for name, fn in methods.items():
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn()
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                bad = [k for k, d, e in out if e is not None or d != payloads[k]]
                assert not bad, (name, bad[:3])
                rates[name].append(len(keys) / dt)
                cpu[name].append(dc / len(keys) * 1e6)
        print(f"\n{len(keys)} objects of {args.size} B, {args.workers} in flight, {args.rounds} rounds interleaved "
              "(objects/s: median [min-max]; this process's CPU µs an object (every thread), median)")
        for name, r in rates.items():
            print(f"  {name:36s} {statistics.median(r):7.0f} [{min(r):.0f}-{max(r):.0f}]   "
                  f"{statistics.median(cpu[name]):6.0f} µs CPU")

        print("\nconditional operations:")
        for what, result in check_conditional_semantics(store, ob).items():
            print(f"  {what}: {result}")


if __name__ == "__main__":
    main()
