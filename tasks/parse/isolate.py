"""Each file's parse under a wall-time and memory budget, in a child process a file can kill without taking its
batch along.

A batch task hands its documents, `chunk` at a time, to a parser process of its own (`python -m tasks.parse.isolate`,
started once per worker and kept), and watches it: the child writes which step of which document it is in to a
small shared page (`parse_documents`' progress hook, ~1 µs a document), and the parent polls that page and the
child's resident memory every POLL_S (an OCR batch's scans every OCR_POLL_S). A document that has spent more than
its time budget, or grown the child by more than its memory budget, gets the child killed; a child that dies by
itself (a segfault in a C library, the kernel's OOM killer) names the document it was in. Either way that document
is refused with its reason and the rest of its chunk is parsed again by a new child: one bad file costs one file. A
death outside any one document (the batch-wide steps) is narrowed down by halving the chunk. A document that killed
the child without a budget being crossed is tried once more on its own before it is refused (a kill from outside,
not its bytes).

The budgets come from the pipeline settings (`file_time_budget_s`, `file_memory_budget_mb`). Linux: the memory
budget reads /proc; elsewhere only the time budget holds.

Cost on the good path, measured here on the 100,000-report benchmark corpus (A/B against the code before, runs
interleaved, the machine shared at a load of 10-20 on 2 cores, so wall times swung 118-431 s and are not the figure):
CPU time of the job 126.2 and 124.5 s against 122.6 and 132.2 s without the parser process (within the noise);
orchestration 6.8-9.1 % of flow time against 6.3-9.6 %; peak memory of the job 1,729-1,735 MiB against
1,382-1,390 MiB (a parser process per worker holds its imports and a chunk: ~+170 MiB a worker). A stalled file
costs its budget (the 146 KB PDF whose 70 MB content stream pypdf rescans per page: 30.3 s, then refused).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import logging
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tasks.parse.documents import STEP_BATCH, STEP_DECODE, Document, ParsedBatch, parse_documents
from tasks.parse.pdf import SCAN_MAX_PAGES, estimated_scan_pages

log = logging.getLogger(__name__)

POLL_S = 0.02
# An OCR batch's scans are watched 10 times a second, not 50: a page takes seconds and grows the process by what one
# rendered page holds (at most ~45 MiB: tasks/parse/ocr.py MAX_SIDE_PX), so a scan over its budget is found as
# surely, and the poll (a timer wake-up, a read of /proc) is not paid 50 times a second for minutes beside the
# engine. Measured (/proc per thread, a 60 s window of the OCR step, 12 scans on a 2-worker Dask LocalCluster): the
# supervising thread took 0.89-0.90 s of CPU a minute at 0.02 s, 0.45-0.51 s at 0.1 s.
OCR_POLL_S = 0.1
STEP_IDLE = -1
_PROGRESS = struct.Struct("<qq")   # step, document index within the chunk
_HEADER = struct.Struct("<cQ")     # kind (b"R" result, b"E" error), payload length
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# what a batch keeps of each record: state rows, and a scan's pages (left to an OCR batch, or OCR switched off)
RECORD_FIELDS = ("report_id", "year", "admin_level", "deferred_pages", "scan_pages")
# The parser process's cyclic garbage collector: a first generation of 10,000 objects instead of Python's 700. A
# chunk of 1,000 reports allocates millions of small objects (cells, tokens, rows) that are freed by reference
# counting, yet every 700 of them set off a collection, and the full ones walk everything a chunk holds: at the
# default, collection took 3.2-3.9 s of 17-20 s parsing 20,000 benchmark reports in one process (gc.callbacks),
# at 10,000 1.1 s. It only changes when unreachable cycles are freed, never what is parsed.
# Issue 16's regression was mostly here: the restructure's parser allocates more (lean cells made from Cell objects,
# classify's kept cells: 22% more first-generation collections). 15,000 bench reports in one process, 2 interleaved
# rounds, CPU: 758006c 11.0/11.1 s (collection 1.7), 2c01031 11.5/12.2 s (1.7/2.0), with this 10.2/10.7 s (0.4/0.5)
# (python -m tests.bench.bench_gc).
CHILD_GC_THRESHOLD = (10_000, 10, 10)


def ocr_pages(data: bytes) -> int:
    """The pages OCR could read in a file: a scan's pages, a Word file's pictures (1 for anything else)."""
    from tasks.parse.word_pictures import estimated_picture_pages

    return max(estimated_scan_pages(data), estimated_picture_pages(data))


def time_reason(budget_s: float) -> str:
    return f"exceeded the time budget ({budget_s:g} s)"


def memory_reason(budget_mb: int) -> str:
    return f"exceeded the memory budget ({budget_mb} MiB)"


def in_ocr_batch(doc: Document) -> bool:
    """A scan an OCR batch reads: read by OCR here, its real pages known (tasks/parse/documents.py `Document`)."""
    return doc.ocr == "read" and bool(doc.pages)


def budget_pages(doc: Document) -> int:
    """How many file budgets a document gets. A scan is read by OCR at 2-4 s a page on a quiet core
    (tasks/parse/ocr.py): a scan read here gets one per page, its real pages where known (the flow's OCR batches:
    one more for the disputed cells read again, the rules' check and the text's parse; a one-page scan took 32 s
    here with the machine's 2 cores loaded 13 deep), else as many as its bytes could hold; at most OCR's page limit.
    A Word file gets one for each picture that could hold a table (tasks/parse/word_pictures.py: read where the
    file is parsed). Any other file, a text PDF, and a scan left to an OCR batch or with OCR switched off (only its
    text layer is looked at), one."""
    from tasks.parse.word_pictures import estimated_picture_pages

    pictures = estimated_picture_pages(doc.data)  # a Word file's pictures are read where it is parsed (1 otherwise)
    if doc.ocr != "read":
        return pictures
    if doc.pages:
        return max(min(SCAN_MAX_PAGES, doc.pages) + 1, pictures)
    return ocr_pages(doc.data)


class ParserUnavailable(RuntimeError):
    """The parser process died before it took any document: the environment, not a file (the batch fails and
    is retried)."""


@dataclass
class Outcome:
    """What became of a batch's documents: parsed (frames, and each document's record by its index) or refused
    (index → reason)."""

    frames: dict[str, pl.DataFrame]
    records: dict[int, dict[str, Any]]
    refused: dict[int, str] = field(default_factory=dict)


class _Child:
    """One parser process and the page it writes its progress to."""

    def __init__(self) -> None:
        self.page_file = tempfile.TemporaryFile()
        self.page_file.write(b"\0" * mmap.PAGESIZE)
        self.page_file.flush()
        self.page = mmap.mmap(self.page_file.fileno(), mmap.PAGESIZE)
        fd = self.page_file.fileno()
        self.proc = subprocess.Popen([sys.executable, "-m", "tasks.parse.isolate", str(fd)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, pass_fds=(fd,), close_fds=True)

    def progress(self) -> tuple[int, int]:
        return _PROGRESS.unpack_from(self.page, 0)  # type: ignore[return-value]

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.close()

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(BufferError, ValueError):
            self.page.close()
        self.page_file.close()


class Supervisor:
    """Parses documents in a child process under per-document budgets (see the module docstring)."""

    def __init__(self, time_budget_s: float, memory_budget_mb: int) -> None:
        self.time_budget_s = float(time_budget_s)
        self.memory_budget_mb = int(memory_budget_mb)
        self._child: _Child | None = None
        self.peak_rss = 0  # the most the parser process was seen holding (bytes), for benchmarks

    def start(self) -> None:
        """Start the parser process now (its imports take ~1 s: a batch starts it before reading its files)."""
        if self._child is None or self._child.proc.poll() is not None:
            if self._child is not None:
                self._child.close()
            self._child = _Child()

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def parse(self, docs: Sequence[Document], chunk: int) -> Outcome:
        """Every document parsed or refused; frames joined and made unique on each table's grain in document order
        (a report's first document wins), as one call over the whole batch makes them."""
        from tasks import lake
        n = len(docs)
        queue: list[list[int]] = [list(range(i, min(i + chunk, n))) for i in range(0, n, max(chunk, 1))]
        parts: list[ParsedBatch] = []
        records: dict[int, dict[str, Any]] = {}
        refused: dict[int, str] = {}
        died_once: set[int] = set()
        while queue:
            idxs = queue.pop(0)
            kind, value = self._attempt([docs[i] for i in idxs])
            if kind == "ok":
                parts.append(value)
                records.update(zip(idxs, value.records, strict=True))
                continue
            at, reason, budget = value
            if at is not None:
                culprit = idxs[at]
                rest = idxs[:at] + idxs[at + 1:]
                if budget or culprit in died_once:
                    refused[culprit] = reason
                    queue[:0] = [rest] if rest else []
                else:  # a death with no budget crossed: once more on its own, after the others
                    died_once.add(culprit)
                    queue[:0] = ([rest] if rest else []) + [[culprit]]
                log.warning("%s: %s", docs[culprit].source, reason)
            elif len(idxs) == 1:
                refused[idxs[0]] = reason
                log.warning("%s: %s", docs[idxs[0]].source, reason)
            else:  # in a batch-wide step: halve the chunk until the document is found
                half = len(idxs) // 2
                queue[:0] = [idxs[:half], idxs[half:]]
        if not parts:
            frames = parse_documents([]).frames
        elif len(parts) == 1:
            frames = parts[0].frames
        else:
            frames = {name: pl.concat([p.frames[name] for p in parts], how="vertical")
                      .unique(subset=lake.grain(name), keep="first", maintain_order=True) for name in parts[0].frames}
        return Outcome(frames=frames, records=records, refused=refused)

    def _attempt(self, docs: list[Document]) -> tuple[str, Any]:
        """("ok", ParsedBatch) or ("refused", (index in docs or None, reason, a budget was crossed))."""
        self.start()
        child = self._child
        assert child is not None
        _PROGRESS.pack_into(child.page, 0, STEP_IDLE, -1)
        payload = encode_documents(docs)
        try:
            assert child.proc.stdin is not None
            child.proc.stdin.write(_HEADER.pack(b"D", len(payload)))
            child.proc.stdin.write(payload)
            child.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: found below
        del payload
        limit_rss = self.memory_budget_mb * 1024 * 1024
        batch_budget = self.time_budget_s * 4  # a batch-wide step over the whole chunk
        doc_budgets = [self.time_budget_s * budget_pages(d) for d in docs]
        spent: dict[tuple[int, int], float] = {}
        cur = (STEP_IDLE, -1)
        base_rss = child.rss()
        last = time.monotonic()
        assert child.proc.stdout is not None
        out_fd = child.proc.stdout.fileno()
        reason: str | None = None
        budget = False
        poll_s = OCR_POLL_S if docs and all(in_ocr_batch(d) for d in docs) else POLL_S
        while True:
            ready, _, _ = select.select([out_fd], [], [], poll_s)
            now = time.monotonic()
            step, index = child.progress()
            doc_key = (step, index) if step in (STEP_IDLE, STEP_BATCH) else (0, index)  # a document's steps add up
            if cur[0] != STEP_IDLE:
                spent[cur] = spent.get(cur, 0.0) + (now - last)
            last = now
            if doc_key != cur:
                cur = doc_key
                base_rss = child.rss()
            if ready:
                header = child.proc.stdout.read(_HEADER.size)
                if len(header) == _HEADER.size:
                    kind, size = _HEADER.unpack(header)
                    body = child.proc.stdout.read(size)
                    if len(body) == size:
                        if kind == b"E":
                            raise RuntimeError(f"parser process: {body.decode('utf-8', 'replace')}")
                        return "ok", decode_result(body)
                # EOF: it died
            elif step == STEP_IDLE and child.proc.poll() is None:
                continue
            else:
                used = spent.get(cur, 0.0)
                allowed = batch_budget if step == STEP_BATCH else doc_budgets[index] if 0 <= index < len(docs) \
                    else self.time_budget_s
                if used > allowed:
                    reason, budget = time_reason(allowed), True
                elif (rss := child.rss()) and limit_rss and rss - base_rss > limit_rss:
                    self.peak_rss = max(self.peak_rss, rss)
                    reason, budget = memory_reason(self.memory_budget_mb), True
                elif child.proc.poll() is None:
                    self.peak_rss = max(self.peak_rss, rss)
                    continue
            # over a budget (kill it) or dead
            if reason is not None:
                child.kill()
            else:
                code = child.proc.wait()
                reason = f"the parser's process died ({_describe_exit(code)}) while parsing this file"
                child.close()
                if code is not None and -code in _STOPPED_BY:  # stopped from outside (the run is ending): no file's doing
                    self._child = None
                    raise ParserUnavailable(f"the parser process was stopped ({_describe_exit(code)})")
            self._child = None
            if step == STEP_IDLE:
                raise ParserUnavailable(f"the parser process ended before it took a document ({reason})")
            return "refused", (index if step != STEP_BATCH else None, reason, budget)


# signals that stop a process from outside, not a crash: a death by one of them is never a file's doing
_STOPPED_BY = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


_LOCAL = threading.local()
_ALL: list[tuple[threading.Thread, Supervisor]] = []
_ALL_LOCK = threading.Lock()


def supervisor(time_budget_s: float, memory_budget_mb: int) -> Supervisor:
    """This thread's supervisor (its child process is kept from batch to batch: starting one costs ~1 s). The
    parser processes of threads that have ended (a thread runner's pool of an earlier run) are stopped here."""
    sup = getattr(_LOCAL, "sup", None)
    if sup is None:
        sup = _LOCAL.sup = Supervisor(time_budget_s, memory_budget_mb)
        with _ALL_LOCK:
            for thread, old in [pair for pair in _ALL if not pair[0].is_alive()]:
                with contextlib.suppress(Exception):
                    old.close()
                _ALL.remove((thread, old))
            _ALL.append((threading.current_thread(), sup))
    sup.time_budget_s, sup.memory_budget_mb = float(time_budget_s), int(memory_budget_mb)
    return sup


@atexit.register
def _close_all() -> None:
    with _ALL_LOCK:
        for _, sup in _ALL:
            with contextlib.suppress(Exception):
                sup.close()
        _ALL.clear()


# ---------------------------------------------------------------------------------------------------------------
# What goes through the pipes: plain data, never pickles (JSON heads, the documents' bytes, Arrow IPC frames)

_LEN = struct.Struct("<Q")


def _pack(head: Any, blobs: Sequence[bytes]) -> bytes:
    meta = json.dumps(head).encode()
    return b"".join([_LEN.pack(len(meta)), meta, *blobs])


def _unpack(body: bytes) -> tuple[Any, memoryview]:
    (n,) = _LEN.unpack_from(body, 0)
    return json.loads(body[_LEN.size:_LEN.size + n]), memoryview(body)[_LEN.size + n:]


def encode_documents(docs: Sequence[Document]) -> bytes:
    head = [[d.source, len(d.data), d.meta, d.meta_problem, d.ocr, d.pages] for d in docs]
    return _pack(head, [d.data for d in docs])


def decode_documents(body: bytes) -> list[Document]:
    head, rest = _unpack(body)
    docs, at = [], 0
    for source, size, meta, problem, ocr, pages in head:
        docs.append(Document(source=source, data=bytes(rest[at:at + size]), meta=meta, meta_problem=problem, ocr=ocr,
                             pages=pages))
        at += size
    return docs


def encode_result(parsed: ParsedBatch) -> bytes:
    blobs = []
    for frame in parsed.frames.values():
        buf = io.BytesIO()
        frame.write_ipc(buf, compression="uncompressed")
        blobs.append(buf.getvalue())
    head = {"frames": [[name, len(b)] for name, b in zip(parsed.frames, blobs, strict=True)], "records": parsed.records}
    return _pack(head, blobs)


def decode_result(body: bytes) -> ParsedBatch:
    head, rest = _unpack(body)
    frames, at = {}, 0
    for name, size in head["frames"]:
        frames[name] = pl.read_ipc(io.BytesIO(rest[at:at + size]))
        at += size
    return ParsedBatch(frames=frames, records=head["records"])


# ---------------------------------------------------------------------------------------------------------------
# The child

def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the one that started it dies (a stalled parse must not outlive
    the worker that watched it)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)


def _load_ocr_engine() -> None:
    """The OCR engine is loaded (~100 MiB, ~1 s) before a batch of scans starts, under the batch's budget: it is
    this process's, loaded once, not the first scan's doing, so a scan's memory is measured from it (a 6-page scan
    grows the process by ~900 MiB more; with the engine counted in, the first scan of a process came within
    80 MiB of the default 1,024 MiB budget). Where it cannot load, the scans say why (OCR not installed)."""
    from tasks.parse import ocr

    with contextlib.suppress(Exception):
        if ocr.available():
            ocr.engine()


def _child_main(fd: int) -> None:
    from tasks.faults import ENV_POINT, fault_point

    _die_with_parent()
    gc.collect()
    gc.freeze()  # the imports (modules, regexes, the division table) are never garbage: no collection walks them
    gc.set_threshold(*CHILD_GC_THRESHOLD)
    for sig in (signal.SIGINT, signal.SIGTERM):  # sent to the whole group (a Ctrl-C, a container stopping): the
        signal.signal(sig, signal.SIG_IGN)       # parent decides, and this process dies with it (PR_SET_PDEATHSIG)
    page = mmap.mmap(fd, mmap.PAGESIZE)
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the results
    while True:
        header = inp.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        _, size = _HEADER.unpack(header)
        body = inp.read(size)
        if len(body) < size:
            return
        docs = decode_documents(body)
        del body
        if any(in_ocr_batch(d) for d in docs):
            _PROGRESS.pack_into(page, 0, STEP_BATCH, -1)
            _load_ocr_engine()
        faults = bool(os.environ.get(ENV_POINT))

        def progress(step: int, index: int, docs: list[Document] = docs, faults: bool = faults) -> None:
            _PROGRESS.pack_into(page, 0, step, index)
            if faults and step == STEP_DECODE:
                fault_point("parse_doc", docs[index].source)
            elif faults and step == STEP_BATCH:
                for doc in docs:
                    fault_point("parse_batch_with", doc.source)

        try:
            parsed = parse_documents(docs, progress)
            result = ParsedBatch(frames=parsed.frames,
                                 records=[{k: rec.get(k) for k in RECORD_FIELDS} for rec in parsed.records])
            kind, payload = b"R", encode_result(result)
        except Exception as exc:  # a bug outside any one document: the batch fails as it would in-process
            kind, payload = b"E", f"{type(exc).__name__}: {exc}".encode()
        _PROGRESS.pack_into(page, 0, STEP_IDLE, -1)
        out.write(_HEADER.pack(kind, len(payload)))
        out.write(payload)
        out.flush()


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
