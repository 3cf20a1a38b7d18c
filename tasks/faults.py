"""Named fault points for crash tests: GOVREPORTS_FAULT_POINT makes the process die (or raise) at a chosen step.

Off unless the variable is set; then ``fault_point(name, tag)`` at each named step checks it. The value is a comma
list of ``name[:arg]``:

- ``name``       the first time the step is reached in this process;
- ``name:TAG``   every time the step is reached with that tag (batch:00001 = every attempt of batch 00001);
- ``name:N``     otherwise, the N-th time (N a number: mid_commit:40 = after the 40th partition write).

GOVREPORTS_FAULT_ACTION says what happens: ``kill`` (default: SIGKILL to this process, no cleanup of any kind, as
an OOM kill or a lost node), ``segv`` (SIGSEGV: a C library's crash), ``raise`` (FaultInjected, an ordinary
exception), ``pause:S`` (sleep S seconds, then go on: a slow run, to make two runs overlap, or a file's parse that
stalls) or ``alloc:M`` (take M MiB and hold it for a minute: a file's parse that eats memory).

Points (in the order a run reaches them): ``listing`` (source listed, nothing planned or written), ``mid_batch``
(a batch's first frame staged, its _SUCCESS not yet), ``batch`` (a batch task starting; tag = batch id),
``after_stage`` (every batch done, nothing committed), ``mid_commit`` (after a partition write of the commit),
``before_state`` (tables and failures committed, state not yet), ``after_state`` (state written, staging not yet
cleared). In the parser process (tasks/parse/isolate.py): ``parse_doc`` (a document's parse starting; tag = its key)
and ``parse_batch_with`` (a batch-wide step of the parse starting, once for each key in the chunk: the step dies
whenever that document is among those parsed).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

ENV_POINT = "GOVREPORTS_FAULT_POINT"
ENV_ACTION = "GOVREPORTS_FAULT_ACTION"

_hits: Counter[str] = Counter()
_lock = threading.Lock()


class FaultInjected(RuntimeError):
    """Raised at a fault point when GOVREPORTS_FAULT_ACTION=raise."""


def fault_point(name: str, tag: str | None = None) -> None:
    """Die or raise here if GOVREPORTS_FAULT_POINT names this point (see the module docstring)."""
    spec = os.environ.get(ENV_POINT)
    if not spec:
        return
    for item in spec.split(","):
        point, _, arg = item.strip().partition(":")
        if point != name:
            continue
        if arg and (tag is not None and arg == tag):  # batch ids are digits too: a tag match comes first
            hit = True
        elif arg and not arg.isdigit():
            hit = False
        else:
            with _lock:
                _hits[name] += 1
                hit = _hits[name] == (int(arg) if arg else 1)
        if hit:
            _trigger(f"{name}:{arg}" if arg else name)


def _trigger(where: str) -> None:
    action = os.environ.get(ENV_ACTION, "kill")
    if action == "raise":
        raise FaultInjected(f"fault injected at {where}")
    if action.startswith("pause:"):
        time.sleep(float(action.split(":", 1)[1]))
        return
    if action.startswith("alloc:"):
        held = bytearray(int(float(action.split(":", 1)[1]) * 1024 * 1024))
        for i in range(0, len(held), 4096):  # touched: resident, not just reserved
            held[i] = 1
        time.sleep(60)
        return
    os.kill(os.getpid(), signal.SIGSEGV if action == "segv" else signal.SIGKILL)


def reset() -> None:
    """Forget the hit counts (tests running several flows in one process)."""
    with _lock:
        _hits.clear()
