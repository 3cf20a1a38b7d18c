"""A fault-injecting HTTP reverse proxy for S3 tests: s3fs talks to the proxy, the proxy to moto (or any server).

On a configurable share of requests (optionally only some methods, or paths matching a regular expression) it
answers instead of the server with one of these faults, chosen by weight:

- ``500``      500 InternalError (S3 XML body), the request never reaches the server;
- ``503``      503 SlowDown (S3 XML body), the request never reaches the server;
- ``reset``    the connection is reset (RST) before anything is forwarded;
- ``reset_after``  the request IS forwarded and applied, then the connection is reset: the client never sees the
                   answer (a PUT or DELETE that happened although the client thinks it failed);
- ``delay``    the request is held for ``delay_s`` seconds, then forwarded (a slow server);
- ``timeout``  the request is held for ``timeout_s`` seconds, then the connection is reset without forwarding
               (a server that never answers: the client's read timeout fires first when it is shorter).

The proxy runs in its own thread and event loop on a free 127.0.0.1 port; counters say what it did, so a test can
prove the faults really happened. Use it as a context manager::

    with FaultProxy(upstream="http://127.0.0.1:5000") as proxy:
        proxy.configure(share=0.2, faults={"500": 1, "503": 1, "reset": 1})
        ...  # point AWS_ENDPOINT_URL_S3 at proxy.url
        assert proxy.counts["500"] > 0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

FAULT_KINDS = ("500", "503", "reset", "reset_after", "delay", "timeout")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "trailers", "transfer-encoding", "upgrade", "expect", "content-length", "host"})
_ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
              '<Resource>{path}</Resource><RequestId>faultproxy-{n}</RequestId></Error>')


@dataclass
class FaultPlan:
    """What to inject. share: probability that a matching request gets a fault; faults: kind → weight."""

    share: float = 0.0
    faults: dict[str, float] = field(default_factory=lambda: {"500": 1.0, "503": 1.0, "reset": 1.0})
    methods: frozenset[str] | None = None   # None: every method
    path_regex: str | None = None           # matched (re.search) against the undecoded path and query
    delay_s: float = 0.3
    timeout_s: float = 3.0
    max_faults: int | None = None           # stop injecting after this many faults (counted from configure())
    error_message: str = "We encountered an internal error. Please try again."

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path_regex is None or re.search(self.path_regex, path) is not None


class FaultProxy:
    """Reverse proxy to `upstream` with fault injection; `url` is the address to give clients."""

    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = FaultPlan()
        self.counts: Counter[str] = Counter()       # requests, forwarded, and one entry per fault kind
        self.by_method: Counter[str] = Counter()    # "GET 503", "PUT forwarded", …
        self.events: list[tuple[str, str, str]] = []  # (method, path, what happened), in order
        self._rng = random.Random(seed)
        self._budget_used = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    # -- control -------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, share: float | None = None, **changes: Any) -> FaultPlan:
        """Change the plan (any FaultPlan field); methods may be given as any iterable of names."""
        with self._lock:
            if share is not None:
                changes["share"] = share
            if "methods" in changes and changes["methods"] is not None:
                changes["methods"] = frozenset(m.upper() for m in changes["methods"])
            unknown = set(changes.get("faults", {})) - set(FAULT_KINDS)
            if unknown:
                raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
            for name, value in changes.items():
                if not hasattr(self.plan, name):
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self.plan, name, value)
            self._budget_used = 0
            return self.plan

    def off(self) -> None:
        self.configure(share=0.0, methods=None, path_regex=None, max_faults=None)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.by_method.clear()
            self.events.clear()

    @property
    def faults_injected(self) -> int:
        return sum(self.counts[k] for k in FAULT_KINDS)

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._serve, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError("the fault proxy did not start")
        if self._error is not None:
            raise RuntimeError(f"the fault proxy failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server ----------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # aborted connections are the point
        logging.getLogger("aiohttp.access").setLevel(logging.CRITICAL)
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        # no pooling towards upstream and no automatic decompression: bytes go through as they are
        self._session = aiohttp.ClientSession(auto_decompress=False, connector=aiohttp.TCPConnector(force_close=True),
                                              timeout=aiohttp.ClientTimeout(total=120))
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _decide(self, method: str, path: str) -> str | None:
        with self._lock:
            self.counts["requests"] += 1
            plan = self.plan
            if plan.share <= 0 or not plan.matches(method, path) or self._rng.random() >= plan.share:
                return None
            if plan.max_faults is not None and self._budget_used >= plan.max_faults:
                return None
            self._budget_used += 1
            kinds = [k for k, w in plan.faults.items() if w > 0]
            return self._rng.choices(kinds, [plan.faults[k] for k in kinds])[0]

    def _record(self, method: str, path: str, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
            self.by_method[f"{method} {what}"] += 1
            self.events.append((method, path, what))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.raw_path
        body = await request.read()
        fault = self._decide(method, path)
        if fault in ("500", "503"):
            self._record(method, path, fault)
            code, status = ("InternalError", 500) if fault == "500" else ("SlowDown", 503)
            message = self.plan.error_message if fault == "500" else "Please reduce your request rate."
            xml = _ERROR_XML.format(code=code, message=message, path=path, n=self.counts["requests"])
            return web.Response(status=status, body=xml.encode(), content_type="application/xml")
        if fault == "reset":
            self._record(method, path, fault)
            return self._reset(request)
        if fault == "timeout":
            self._record(method, path, fault)
            await asyncio.sleep(self.plan.timeout_s)
            return self._reset(request)
        if fault == "delay":
            self._record(method, path, fault)
            await asyncio.sleep(self.plan.delay_s)
        status, headers, payload = await self._forward(request, body)
        if fault == "reset_after":
            self._record(method, path, fault)
            return self._reset(request)
        self._record(method, path, "forwarded")
        resp = web.StreamResponse(status=status, headers=headers)
        if method == "HEAD":  # no body, but the upstream's Content-Length must reach the client
            if "Content-Length" in headers:
                resp.content_length = int(headers["Content-Length"])
            await resp.prepare(request)
            return resp
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload)
        await resp.write_eof()
        return resp

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = request.headers.get("Host", "")  # signed by the client: keep it exactly
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(request.method, url, headers=headers, data=body or None,
                                         allow_redirects=False) as up:
            payload = await up.read()
            out = {k: v for k, v in up.headers.items() if k.lower() not in _HOP_BY_HOP or k.lower() == "content-length"}
            return up.status, out, payload

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        """Close the client's connection with a TCP RST (SO_LINGER 0): the client sees 'connection reset'."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        raise asyncio.CancelledError()
