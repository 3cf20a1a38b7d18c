"""The writer lease: one run at a time writes the lake. `acquire_lease` takes _state/lease.json with a conditional
create (or takes over an expired one, or one whose holder process is gone, with a conditional replace); `Lease`
renews it from a background thread and releases it only while it is still ours."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.storage import Store

logger = logging.getLogger(__name__)

LEASE_KEY = "_state/lease.json"


class LeaseHeldError(RuntimeError):
    """Another writer holds the lease and it has not expired."""

    def __init__(self, holder: str, expires_at: float, key: str, waited_s: float = 0.0) -> None:
        self.holder, self.expires_at, self.key = holder, expires_at, key
        until = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds")
        waited = f" after waiting {waited_s:.0f} s" if waited_s else ""
        super().__init__(f"the lake is being written by {holder!r} (lease {key} held until {until}){waited}; "
                         f"this run did not write anything. Wait for that run to finish (or set "
                         f"GOVREPORTS_LEASE_WAIT_SECONDS), or delete {key} if it is known to be dead")


class LeaseLostError(RuntimeError):
    """Our lease was taken over (it had expired) or removed."""


@dataclass
class Lease:
    """A held writer lease. `release()` removes it only if it is still ours; `renew()` extends it;
    `keep_alive()` renews it from a background thread; `check()` raises if it may no longer be ours."""

    store: Store
    key: str
    owner: str
    token: str
    acquired_at: float
    expires_at: float
    version: str
    stolen_from: str | None = None
    released: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: BaseException | None = None

    def renew(self, ttl_s: float) -> None:
        """Extend to now + ttl_s; LeaseLostError if someone else holds it now. The new version is read back, so a
        renewal whose answer was lost (the PUT applied, the response not received) still counts."""
        with self._lock:
            expires = time.time() + ttl_s
            body = _lease_body(self.owner, self.token, self.acquired_at, expires)
            self.store.put_if_match(self.key, body, self.version)
            current = self.store.read_versioned(self.key)
            held = _parse_lease(current[0]) if current is not None else {}
            if held.get("token") != self.token:
                self.lost = LeaseLostError(f"lease {self.key} of {self.owner!r} was taken over or removed")
                raise self.lost
            self.version, self.expires_at = current[1], float(held.get("expires_at") or expires)  # type: ignore[index]

    def keep_alive(self, ttl_s: float, every_s: float | None = None) -> None:
        """Renew every `every_s` seconds (default ttl/6) until released. A renewal failing with a storage error is
        retried at the next tick; losing the lease is remembered and raised by `check()`."""
        every = every_s if every_s is not None else max(1.0, ttl_s / 6)

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    self.renew(ttl_s)
                except LeaseLostError:
                    logger.error("lost the writer lease %s: this run must stop writing", self.key)
                    return
                except Exception as exc:  # storage trouble: try again at the next tick; check() sees expiry
                    logger.warning("could not renew the writer lease %s: %s", self.key, Store.redact(str(exc)))

        self._thread = threading.Thread(target=beat, name=f"lease-{self.owner}", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise LeaseLostError unless the lease is still ours and unexpired (call before each commit step)."""
        if self.lost is not None:
            raise LeaseLostError(str(self.lost))
        if self.released:
            raise LeaseLostError(f"lease {self.key} of {self.owner!r} was released")
        if time.time() >= self.expires_at:
            raise LeaseLostError(f"lease {self.key} of {self.owner!r} expired (renewals failed): another run may "
                                 "have taken it; stopping before writing")

    def release(self) -> bool:
        """Delete the lease if it is still ours (conditional on its version); False (and a warning) otherwise."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)
        with self._lock:
            if self.released:
                return False
            self.released = True
            if self.store.delete_if_match(self.key, self.version):
                return True
            current = self.store.read_versioned(self.key)
            if current is None:  # deleted, the answer lost: it was ours
                return True
            logger.warning("lease %s of %r was not ours any more at release (expired and taken over?)",
                           self.key, self.owner)
            return False

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _process_identity(pid: int | None = None) -> dict[str, Any]:
    """Who holds a lease, precisely enough to tell later that the holder is dead: host, pid, the pid namespace and
    the process start time (Linux /proc; absent elsewhere)."""
    pid = os.getpid() if pid is None else pid
    ident: dict[str, Any] = {"host": socket.gethostname(), "pid": pid}
    try:
        ident["pid_ns"] = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        pass
    start = _process_start(pid)
    if start is not None:
        ident["pid_start"] = start
    return ident


def _process_start(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot); None when it is not
    running (no such process, or a zombie: killed, not yet reaped) or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def holder_is_dead(held: Mapping[str, Any]) -> bool:
    """True only when the lease was taken by a process of this host and pid namespace that no longer runs (a run
    killed by SIGKILL, OOM or a crash): then the lease can be taken over at once instead of at expiry. Anything
    uncertain (another host or container, no /proc) is not dead: the lease then waits for its expiry."""
    mine = _process_identity()
    if held.get("host") != mine["host"] or not isinstance(held.get("pid"), int):
        return False
    if "pid_ns" not in mine or held.get("pid_ns") != mine["pid_ns"]:
        return False
    pid = int(held["pid"])
    if pid == os.getpid():
        return False
    if not os.path.isdir("/proc/self"):
        return False
    start = _process_start(pid)
    return start is None or (held.get("pid_start") is not None and start != held.get("pid_start"))


def _lease_body(owner: str, token: str, acquired_at: float, expires_at: float) -> bytes:
    return json.dumps({
        "owner": owner, "token": token, **_process_identity(),
        "acquired_at": acquired_at, "expires_at": expires_at,
        "expires_at_iso": datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds"),
    }, ensure_ascii=False).encode("utf-8")


def _parse_lease(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
        return value if isinstance(value, dict) else {}
    except (UnicodeDecodeError, ValueError):
        return {}


def acquire_lease(store: Store, owner: str, ttl_s: float, *, key: str = LEASE_KEY, attempts: int = 5,
                  wait_s: float = 0.0, poll_s: float = 2.0) -> Lease:
    """Take the writer lease: create `key` (_state/lease.json) only if absent (Store.put_if_absent: local
    hard-link creation, S3 ``PUT If-None-Match: *``) with owner, a random token, this process's identity and
    expires_at = now + ttl_s.

    - held, not expired, holder alive → wait up to `wait_s` seconds for it (polling), then LeaseHeldError (holder
      and expiry in the message);
    - expired, unreadable, or held by a dead process of this host (`holder_is_dead`) → taken over with a
      conditional replace of exactly the version seen (Store.put_if_match: S3 ``If-Match: <etag>``), so of two
      runs taking it over at once only one wins;
    - a lease carrying one of this call's own tokens is ours: a create or replace whose answer was lost (the
      request applied, the connection reset) is not mistaken for another writer;
    - Lease.release() deletes it only while it is still ours (``DELETE If-Match``).

    Expiry uses this machine's clock: keep ttl_s far above clock skew, and renew (Lease.keep_alive) during runs.
    """
    deadline = time.monotonic() + max(0.0, wait_s)
    waited_from = time.monotonic()
    tokens: set[str] = set()
    while True:
        try:
            return _try_acquire(store, owner, ttl_s, key, attempts, tokens)
        except LeaseHeldError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait_s > 0:
                    raise LeaseHeldError(exc.holder, exc.expires_at, key, time.monotonic() - waited_from) from None
                raise
            logger.info("lease %s held by %r: waiting (%.0f s left)", key, exc.holder, left)
            time.sleep(min(poll_s, left))


def _try_acquire(store: Store, owner: str, ttl_s: float, key: str, attempts: int, tokens: set[str]) -> Lease:
    for _ in range(attempts):
        token = uuid.uuid4().hex
        tokens.add(token)
        now = time.time()
        body = _lease_body(owner, token, now, now + ttl_s)
        stolen_from: str | None = None
        if not store.put_if_absent(key, body):
            current = store.read_versioned(key)
            if current is None:  # released between our two calls: try again
                continue
            held = _parse_lease(current[0])
            if held.get("token") in tokens:  # our own create, its answer lost
                token = str(held["token"])
                now, expires_at = float(held.get("acquired_at") or now), float(held.get("expires_at") or now + ttl_s)
                return Lease(store, key, owner, token, now, expires_at, current[1])
            expires_at = float(held.get("expires_at") or 0.0)
            dead = holder_is_dead(held)
            if expires_at > time.time() and not dead:
                raise LeaseHeldError(str(held.get("owner")), expires_at, key)
            stolen_from = str(held.get("owner"))
            if not store.put_if_match(key, body, current[1]):
                mine = store.read_versioned(key)  # lost answer to our own replace?
                if mine is None or _parse_lease(mine[0]).get("token") != token:
                    continue  # someone else changed it first: look again
            why = "its process is gone" if dead else f"expired {time.time() - expires_at:.0f} s ago"
            logger.warning("took over the lease %s of %r (%s)", key, stolen_from, why)
        mine = store.read_versioned(key)
        if mine is None or _parse_lease(mine[0]).get("token") != token:
            continue
        return Lease(store, key, owner, token, now, now + ttl_s, mine[1], stolen_from)
    current = store.read_versioned(key)
    held = _parse_lease(current[0]) if current else {}
    raise LeaseHeldError(str(held.get("owner")), float(held.get("expires_at") or 0.0), key)
