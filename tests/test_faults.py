"""Faults: runs SIGKILLed at every step and at random times, storage errors through a fault-injecting proxy, a batch
task raising, two runs on one lake. After each, the lake equals a clean run's lake and every source object is
accounted for: a report row (or a duplicate listed on one) or a failure with a reason."""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import pipeline
from schemas.tables import TABLES
from tasks import faults, lake
from tasks.storage import Store
from tasks.synth.corpus import generate_corpus
from tasks.synth.render import random_record, render_bytes

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
N_REPORTS = 72
BATCH_FILES = 10
MAX_OBJECT_BYTES = 1_000_000
ACCOUNTING: dict[str, dict[str, int]] = {}


# -- the corpus: generated reports plus bad input -----------------------------------------------------------------

def add_bad_input(store: Store, prefix: str = "reports/bad") -> dict[str, str]:
    """Objects nobody would want to parse, next to the generated corpus; returns key → what it is."""
    rng = random.Random(5)
    rec = random_record(rng, year=2022, organ="淮安市人民政府", admin_level="prefectural")
    html = render_bytes(rec, "html", rng=9)
    bad = {
        f"{prefix}/oversized.txt": (b"\xe6\x8a\xa5" * (MAX_OBJECT_BYTES // 3 + 10), "larger than the size limit"),
        f"{prefix}/truncated.html": (html[: len(html) // 2], "a report cut in half"),
        f"{prefix}/cut-mid-char.txt": (render_bytes(rec, "pipe", rng=3)[:-1][:1001], "cut inside a UTF-8 character"),
        f"{prefix}/report.txt.gz": (gzip.compress(render_bytes(rec, "pipe", rng=4)), "a gzip stream"),
        f"{prefix}/random.html": (bytes(rng.getrandbits(8) for _ in range(4096)), "random bytes named .html"),
        f"{prefix}/one-long-line.txt": (("报告" * 60_000).encode(), "one 360 KB line"),
        f"{prefix}/nul-bytes.txt": (b"\x00" * 512 + "政府信息公开工作年度报告".encode(), "NUL bytes then text"),
        f"{prefix}/name with space %2F 报告.txt": (render_bytes(rec, "cell_per_line", rng=5), "odd but valid key"),
        f"{prefix}/bad-sidecar.txt": (render_bytes(rec, "pdf_text", rng=6), "a report with a broken sidecar"),
        f"{prefix}/bad-sidecar.txt.meta.json": (b'{"organ": "\xff\xfe', "broken sidecar JSON"),
        f"{prefix}/orphan.txt.meta.json": (b'{"organ": "nobody"}', "a sidecar without its report"),
    }
    for key, (data, _why) in bad.items():
        store.put_bytes(key, data)
    return {k: why for k, (_d, why) in bad.items()}


def make_corpus(root: Path | str) -> Store:
    store = Store(str(root))
    generate_corpus(store, N_REPORTS, seed=23, years=(2021, 2023), duplicate_share=0.06, broken_share=0.06,
                    sidecar_share=0.3)
    add_bad_input(store)
    return store


@pytest.fixture(autouse=True)
def _settings(monkeypatch):
    monkeypatch.setenv("GOVREPORTS_MAX_OBJECT_BYTES", str(MAX_OBJECT_BYTES))
    monkeypatch.setenv("GOVREPORTS_BATCH_RETRY_DELAY_SECONDS", "0")
    for name in (faults.ENV_POINT, faults.ENV_ACTION):
        monkeypatch.delenv(name, raising=False)
    faults.reset()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("corpus")
    make_corpus(src)
    return src


@pytest.fixture(scope="module")
def clean(prefect_api, corpus, tmp_path_factory) -> dict[str, Any]:
    """A clean run's lake: the reference every faulted run must end up equal to."""
    os.environ["GOVREPORTS_MAX_OBJECT_BYTES"] = str(MAX_OBJECT_BYTES)
    try:
        dest = tmp_path_factory.mktemp("clean") / "lake"
        summary = run_inproc(corpus, dest)
    finally:
        os.environ.pop("GOVREPORTS_MAX_OBJECT_BYTES", None)
    assert summary["status"] == "completed"
    counts = accounting(corpus, dest)
    assert counts["failures"] >= 1  # the oversized object
    ACCOUNTING["clean run"] = counts
    return {"dest": dest, "lake": snapshot(dest), "summary": summary, "counts": counts}


# -- helpers ------------------------------------------------------------------------------------------------------

def run_inproc(src, dest, full: bool = False, **kw) -> dict[str, Any]:
    kw.setdefault("runner", "threads")
    return pipeline.nightly(pipeline.RunSettings(source=str(src), dest=str(dest), batch_files=BATCH_FILES, workers=2, **kw),
                            full=full)


def snapshot(dest) -> dict[str, pl.DataFrame]:
    """Every table, sorted by its grain, and the open failures (source, stage, reason)."""
    store = Store(str(dest))
    out = {name: lake.read_table(store, name).sort(lake.grain(name), nulls_last=True) for name in TABLES}
    out["failures"] = lake.read_failures(store).select("source", "stage", "error").sort("source")
    return out


def assert_same_lake(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    for name in want:
        try:
            assert_frame_equal(got[name], want[name], check_row_order=True)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def accounting(source, dest, scenario: str | None = None) -> dict[str, int]:
    """objects in = report rows + duplicates listed on them + open failures; each object in exactly one place."""
    objects = set(pipeline.split_listing(Store(str(source)).list_objects()).get_column("key").to_list())
    store = Store(str(dest))
    rep = lake.read_table(store, "reports")
    sources = rep.get_column("source").to_list()
    dups = [k for lst in rep.get_column("duplicate_sources").to_list() if lst for k in lst]
    fails = lake.read_failures(store)
    fail_sources = fails.get_column("source").to_list()
    assert fails.filter(pl.col("error").str.len_chars() < 5).is_empty(), "every failure has a reason"
    counts = {"objects": len(objects), "reports": len(sources), "duplicates": len(dups), "failures": len(fail_sources)}
    assert len(set(fail_sources)) == len(fail_sources), "one open failure per object"
    assert set(sources) | set(dups) | set(fail_sources) == objects
    assert counts["objects"] == counts["reports"] + counts["duplicates"] + counts["failures"], counts
    if scenario:
        ACCOUNTING[scenario] = counts
        print(f"ACCOUNTING {scenario}: {counts}")
    return counts


def leftovers(dest: Path) -> list[str]:
    """Objects that must not survive a finished run: staging, the lease, temporary files (lock files may stay)."""
    out = [str(p.relative_to(dest)) for p in (dest / "_staging").rglob("*") if p.is_file()] \
        if (dest / "_staging").exists() else []
    out += [str(p.relative_to(dest)) for p in (dest / "_tmp").glob("*") if p.is_file()] \
        if (dest / "_tmp").exists() else []
    if (dest / lake.LEASE_KEY).exists():
        out.append(lake.LEASE_KEY)
    return out


def spawn(src, dest, prefect_api: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`govreports run` in a child process (its own Python, the session's Prefect server)."""
    cmd = [sys.executable, "-m", "flows.cli", "run", "--source", str(src), "--dest", str(dest), "--runner", "threads",
           "--batch-files", str(BATCH_FILES), "--workers", "2"]
    child_env = {k: v for k, v in os.environ.items() if k not in (faults.ENV_POINT, faults.ENV_ACTION)}
    child_env.update(PREFECT_API_URL=prefect_api, GOVREPORTS_MAX_OBJECT_BYTES=str(MAX_OBJECT_BYTES),
                     GOVREPORTS_BATCH_RETRY_DELAY_SECONDS="0", PYTHONUNBUFFERED="1", **env)
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, cwd=REPO, env=child_env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def wait_child(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"child run did not finish in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def phase(dest: Path) -> dict[str, Any]:
    """What a killed run left behind."""
    staging = dest / "_staging"
    batches = [p for p in staging.glob("*/*") if p.is_dir()] if staging.exists() else []
    return {
        "staged_complete": sum((b / lake.SUCCESS_MARKER).exists() for b in batches),
        "staged_incomplete": sum(not (b / lake.SUCCESS_MARKER).exists() for b in batches),
        "commit_manifest": bool(list(staging.glob(f"*/{lake.COMMIT_MANIFEST}"))) if staging.exists() else False,
        "table_files": sum(1 for name in TABLES for _ in (dest / name).rglob("*.parquet")),
        "state": (dest / lake.STATE_KEY).exists(),
        "lease": (dest / lake.LEASE_KEY).exists(),
    }


def rerun_and_check(corpus: Path, dest: Path, clean: dict[str, Any], scenario: str) -> dict[str, Any]:
    summary = run_inproc(corpus, dest)
    assert summary["status"] == "completed"
    assert_same_lake(snapshot(dest), clean["lake"])
    assert leftovers(dest) == [], leftovers(dest)
    accounting(corpus, dest, scenario)
    return summary


# -- SIGKILL ------------------------------------------------------------------------------------------------------

KILL_POINTS = ["listing", "mid_batch:3", "after_stage", "mid_commit:5", "mid_commit:40", "after_state"]
RANDOM_KILLS = 2


def test_sigkill_at_each_step_and_at_random_times_then_rerun_equals_clean(prefect_api, corpus, clean, tmp_path):
    """Each child `govreports run` is SIGKILLed: at a named step (GOVREPORTS_FAULT_POINT), or a seeded random time
    after it took the lease. Then the lake is run again: it must equal the clean run's lake, nothing left over."""
    children: dict[str, tuple[subprocess.Popen[bytes], Path, Path]] = {}
    for i, point in enumerate(KILL_POINTS):
        dest, log = tmp_path / f"lake{i}", tmp_path / f"run{i}.log"
        children[point] = (spawn(corpus, dest, prefect_api, log, GOVREPORTS_FAULT_POINT=point), dest, log)
    rng = random.Random(20240601)
    window = max(2.0, clean["summary"]["wall_s"] * 3)  # children run side by side: slower than the clean run
    delays: dict[str, float] = {}
    for i in range(RANDOM_KILLS):
        name = f"random #{i}"
        dest, log = tmp_path / f"random{i}", tmp_path / f"random{i}.log"
        children[name] = (spawn(corpus, dest, prefect_api, log), dest, log)
        delays[name] = rng.uniform(0.0, window)

    left: dict[str, dict[str, Any]] = {}
    lease_seen: dict[str, float] = {}
    t0 = time.monotonic()
    while len(left) < len(children) and time.monotonic() - t0 < 240:
        for name, (proc, dest, log) in children.items():
            if name in left:
                continue
            if name in delays and proc.poll() is None:  # kill `delay` s after it took the lease
                if name not in lease_seen:
                    if (dest / lake.LEASE_KEY).exists():
                        lease_seen[name] = time.monotonic()
                    continue
                if time.monotonic() - lease_seen[name] < delays[name]:
                    continue
                os.kill(proc.pid, signal.SIGKILL)
            if proc.poll() is None and name not in delays:
                continue
            code = proc.wait()
            if name not in delays:  # the named step was reached: the child killed itself there
                assert code == -signal.SIGKILL, f"{name}: exit {code}:\n{log.read_text(errors='replace')[-3000:]}"
            left[name] = {"killed": code == -signal.SIGKILL, **phase(dest)}
            if name in delays:
                left[name]["delay_s"] = round(delays[name], 2)
        time.sleep(0.01)
    assert len(left) == len(children), f"children still running: {set(children) - set(left)}"
    print("left behind by the killed runs:", left)

    # the kills happened where they were meant to
    assert left["listing"]["staged_complete"] == left["listing"]["table_files"] == 0 and left["listing"]["lease"]
    assert left["mid_batch:3"]["staged_incomplete"] >= 1 and not left["mid_batch:3"]["commit_manifest"]
    n_batches = clean["summary"]["batches"]
    assert left["after_stage"]["staged_complete"] == n_batches and left["after_stage"]["table_files"] == 0
    assert not left["after_stage"]["commit_manifest"]
    for point in ("mid_commit:5", "mid_commit:40"):
        assert left[point]["commit_manifest"] and left[point]["table_files"] >= 1 and not left[point]["state"]
    assert left["mid_commit:5"]["table_files"] < left["mid_commit:40"]["table_files"]
    assert left["after_state"]["state"] and left["after_state"]["commit_manifest"]

    for name, (_proc, dest, _log) in children.items():
        summary = rerun_and_check(corpus, dest, clean, f"SIGKILL at {name} {left[name]}, rerun")
        runs = lake.read_runs(Store(str(dest)))
        if left[name]["commit_manifest"]:  # the killed run's commit was finished from its manifest
            assert runs.filter(pl.col("recovered_by") == summary["run_id"]).height == 1, runs
            assert summary["parsed"] == 0  # nothing left to parse: the killed run's work was kept
        elif left[name]["killed"] and left[name]["state"]:
            # killed after its commit had finished (in the cross-year step or the report): nothing left to redo
            assert summary["parsed"] == 0
        elif left[name]["killed"]:
            assert summary["parsed"] == clean["summary"]["parsed"]


# -- a batch task raising -----------------------------------------------------------------------------------------

def test_one_batch_raising_commits_the_rest_and_is_retried(prefect_api, corpus, clean, tmp_path, monkeypatch):
    dest = tmp_path / "lake"
    monkeypatch.setenv(faults.ENV_POINT, "batch:00002")
    monkeypatch.setenv(faults.ENV_ACTION, "raise")
    with pytest.raises(RuntimeError, match=r"partial: 1 of \d+ batches failed"):
        run_inproc(corpus, dest)
    runs = lake.read_runs(Store(str(dest)))
    assert runs.get_column("status").to_list() == ["partial"] and runs.get_column("failed_batches").to_list() == [1]
    failures = lake.read_failures(Store(str(dest)))
    batch_rows = failures.filter(pl.col("stage") == "batch")
    assert 1 <= batch_rows.height <= BATCH_FILES
    assert set(batch_rows.get_column("error").to_list()) == {"batch 00002: FaultInjected: fault injected at batch:00002"}
    counts = accounting(corpus, dest, "one batch task raising (3 attempts)")
    assert counts["failures"] == clean["counts"]["failures"] + batch_rows.height
    # the rest is committed: every report row there is exactly the clean run's row
    rep, want = snapshot(dest)["reports"], clean["lake"]["reports"]
    assert rep.height > 0
    assert_frame_equal(rep.drop("duplicate_sources"),
                       want.filter(pl.col("report_id").is_in(rep.get_column("report_id").to_list())).drop("duplicate_sources"))
    assert leftovers(dest) == []

    monkeypatch.delenv(faults.ENV_POINT)
    again = run_inproc(corpus, dest)
    assert again["status"] == "completed" and again["parsed"] == batch_rows.height
    assert_same_lake(snapshot(dest), clean["lake"])
    accounting(corpus, dest, "one batch task raising, next run")


def test_failed_batch_of_a_full_run_keeps_the_last_good_rows_and_is_retried(prefect_api, corpus, clean, tmp_path,
                                                                           monkeypatch):
    dest = tmp_path / "lake"
    shutil.copytree(clean["dest"], dest)
    monkeypatch.setenv(faults.ENV_POINT, "batch:00001")
    monkeypatch.setenv(faults.ENV_ACTION, "raise")
    with pytest.raises(RuntimeError, match="partial"):
        run_inproc(corpus, dest, full=True)
    snap = snapshot(dest)
    assert_same_lake({k: v for k, v in snap.items() if k != "failures"},
                     {k: v for k, v in clean["lake"].items() if k != "failures"})  # nothing lost
    retry = snap["failures"].filter(pl.col("stage") == "batch").get_column("source").to_list()
    assert retry
    monkeypatch.delenv(faults.ENV_POINT)
    again = run_inproc(corpus, dest)  # not full: only the failed batch's keys are due again
    assert again["parsed"] == len(retry)
    assert_same_lake(snapshot(dest), clean["lake"])
    accounting(corpus, dest, "failed batch in a full run, next nightly run")


def test_object_vanishing_after_listing_is_a_failure_then_forgotten(prefect_api, corpus, clean, tmp_path, monkeypatch):
    dest = tmp_path / "lake"
    real = Store.list_objects

    def listing_with_a_ghost(self, prefix=""):
        out = real(self, prefix)
        if self.url == str(corpus):  # listed, then deleted before the batch reads it
            out = pl.concat([out, pl.DataFrame({"key": ["reports/ghost.txt"], "size": [10], "etag": ["x"]},
                                               schema=out.schema)])
        return out

    monkeypatch.setattr(Store, "list_objects", listing_with_a_ghost)
    s = run_inproc(corpus, dest)
    assert s["status"] == "completed" and s["failed"] == clean["counts"]["failures"] + 1
    ghost = lake.read_failures(Store(str(dest))).filter(pl.col("source") == "reports/ghost.txt")
    assert ghost.get_column("error").to_list() == ["not_found: reports/ghost.txt"]
    counts = accounting(corpus, dest, "object vanishing after listing")  # the listing still shows the ghost
    assert counts["objects"] == clean["counts"]["objects"] + 1
    monkeypatch.setattr(Store, "list_objects", real)
    s = run_inproc(corpus, dest)
    assert s["deleted"] == 1
    assert_same_lake(snapshot(dest), clean["lake"])  # its failure row went with it
    accounting(corpus, dest, "object vanishing after listing, next run")


# -- two runs at once ---------------------------------------------------------------------------------------------

def test_second_run_refuses_while_the_lease_is_held_and_writes_nothing(prefect_api, corpus, tmp_path):
    dest = tmp_path / "lake"
    holder = lake.acquire_lease(Store(str(dest)), owner="other-run", ttl_s=600)
    try:
        with pytest.raises(lake.LeaseHeldError, match=r"being written by 'other-run'.*did not write anything"):
            run_inproc(corpus, dest)
        files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert [f for f in files if not f.startswith("_tmp/")] == [lake.LEASE_KEY]
    finally:
        holder.release()


def test_second_run_waits_for_the_lease_when_asked(prefect_api, corpus, clean, tmp_path, monkeypatch):
    dest = tmp_path / "lake"
    holder = lake.acquire_lease(Store(str(dest)), owner="other-run", ttl_s=600)
    threading.Timer(2.0, holder.release).start()
    monkeypatch.setenv("GOVREPORTS_LEASE_WAIT_SECONDS", "60")
    t0 = time.monotonic()
    s = run_inproc(corpus, dest)
    assert s["status"] == "completed" and time.monotonic() - t0 >= 2.0
    assert_same_lake(snapshot(dest), clean["lake"])


def test_two_runs_started_at_once_one_writes_the_other_refuses(prefect_api, corpus, clean, tmp_path):
    dest = tmp_path / "lake"
    # A is slowed down at the end of its batches so that B surely starts while A holds the lease
    # (a child takes several seconds to start its flow run, so the pause leaves room for that)
    a = spawn(corpus, dest, prefect_api, tmp_path / "a.log", GOVREPORTS_FAULT_POINT="after_stage",
              GOVREPORTS_FAULT_ACTION="pause:15")
    t0 = time.monotonic()
    while not (dest / lake.LEASE_KEY).exists() and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    b = spawn(corpus, dest, prefect_api, tmp_path / "b.log")
    c = spawn(corpus, dest, prefect_api, tmp_path / "c.log", GOVREPORTS_LEASE_WAIT_SECONDS="120")
    code_b = wait_child(b, tmp_path / "b.log")
    code_a, code_c = wait_child(a, tmp_path / "a.log"), wait_child(c, tmp_path / "c.log")
    log_b = (tmp_path / "b.log").read_text(errors="replace")
    assert code_a == 0 and code_c == 0, (tmp_path / "a.log").read_text(errors="replace")[-2000:]
    runs = lake.read_runs(Store(str(dest)))
    run_a = runs.get_column("run_id")[0]
    # B was refused while A held the lease, with a message naming A (its run, or its post-run step if A got there)
    assert code_b != 0 and "LeaseHeldError" in log_b
    assert re.search(rf"the lake is being written by '{re.escape(run_a)}(?:-post-run)?'", log_b), log_b[-2000:]
    assert runs.height == 2  # A, then C (which waited, then found nothing to do); B wrote nothing
    assert runs.get_column("parsed").to_list() == [clean["summary"]["parsed"], 0]
    assert_same_lake(snapshot(dest), clean["lake"])
    assert leftovers(dest) == []


# -- storage errors through a fault-injecting proxy ---------------------------------------------------------------

@pytest.fixture(scope="module")
def moto(corpus) -> Iterator[dict[str, Any]]:
    from tests.servers import moto_s3, store_for

    with moto_s3() as info:
        raw = store_for(info, "raw")
        files = [p for p in sorted(corpus.rglob("*")) if p.is_file() and p.relative_to(corpus).parts[0] != "_tmp"]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: raw.put_bytes(p.relative_to(corpus).as_posix(), p.read_bytes()), files))
        yield info


@pytest.fixture
def proxy(moto, monkeypatch) -> Iterator[Any]:
    """A fault proxy in front of moto; the flows' stores (settings from the environment) go through it."""
    from tests.faultproxy import FaultProxy
    from tests.servers import server_env

    with FaultProxy(moto["endpoint_url"], seed=7) as fp:
        for name, value in server_env(dict(moto, endpoint_url=fp.url)).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("GOVREPORTS_S3_ENDPOINT_URL", raising=False)
        yield fp


def s3_snapshot(moto: dict[str, Any], prefix: str) -> dict[str, pl.DataFrame]:
    from tests.servers import store_for

    store = store_for(moto, prefix)  # straight to moto, not through the proxy
    out = {name: lake.read_table(store, name).sort(lake.grain(name), nulls_last=True) for name in TABLES}
    out["failures"] = lake.read_failures(store).select("source", "stage", "error").sort("source")
    return out


def s3_accounting(moto: dict[str, Any], prefix: str, scenario: str) -> dict[str, int]:
    from tests.servers import store_for

    raw, dest = store_for(moto, "raw"), store_for(moto, prefix)
    objects = set(pipeline.split_listing(raw.list_objects()).get_column("key").to_list())
    rep = lake.read_table(dest, "reports")
    sources = rep.get_column("source").to_list()
    dups = [k for lst in rep.get_column("duplicate_sources").to_list() if lst for k in lst]
    fails = lake.read_failures(dest).get_column("source").to_list()
    counts = {"objects": len(objects), "reports": len(sources), "duplicates": len(dups), "failures": len(fails)}
    assert set(sources) | set(dups) | set(fails) == objects
    assert counts["objects"] == counts["reports"] + counts["duplicates"] + counts["failures"], counts
    ACCOUNTING[scenario] = counts
    print(f"ACCOUNTING {scenario}: {counts}")
    leftover = [k for k in dest.list_objects().get_column("key").to_list()
                if k.startswith(("_staging/", lake.LEASE_KEY))]
    assert leftover == []
    return counts


def test_transient_storage_errors_are_retried_and_the_lake_is_the_same(prefect_api, moto, proxy, clean):
    proxy.configure(share=0.1, faults={"500": 2, "503": 2, "reset": 2, "reset_after": 1, "delay": 2}, delay_s=0.3)
    raw = f"s3://{moto['bucket']}/raw"
    s = pipeline.nightly(pipeline.RunSettings(source=raw, dest=f"s3://{moto['bucket']}/lake-transient", runner="threads",
                                              batch_files=BATCH_FILES, workers=2))
    assert s["status"] == "completed" and s["failed"] == clean["counts"]["failures"]
    print("proxy:", dict(proxy.counts))
    for kind in ("500", "503", "reset", "reset_after", "delay"):
        assert proxy.counts[kind] > 0, kind
    assert proxy.faults_injected >= 0.05 * proxy.counts["requests"]
    assert {m.split()[0] for m in proxy.by_method if not m.endswith("forwarded")} >= {"GET", "PUT"}
    proxy.off()
    assert_same_lake(s3_snapshot(moto, "lake-transient"), clean["lake"])
    s3_accounting(moto, "lake-transient", "S3 through the proxy, 10% of requests faulted")


def test_persistent_storage_errors_land_in_failures_and_the_next_run_picks_them_up(prefect_api, moto, proxy, clean,
                                                                                    monkeypatch):
    from tests.servers import store_for

    monkeypatch.setenv("GOVREPORTS_S3_MAX_ATTEMPTS", "1")  # botocore: one retry after the first try (the only layer
    # retrying S3 requests: tasks/storage/retry.py), so the three unreadable sources fail fast
    monkeypatch.setenv("GOVREPORTS_BATCH_RETRIES", "0")
    keys = pipeline.split_listing(store_for(moto, "raw").list_objects()).get_column("key").sort().to_list()
    unreadable = [keys[0], keys[3 * BATCH_FILES + 1], keys[5 * BATCH_FILES + 2]]  # in batches 0, 3 and 5
    alternatives = "|".join(re.escape(quote(k, safe="/~")) for k in unreadable)
    # GETs of three source objects always fail; so does every write of batch 00001's staging
    proxy.configure(share=1.0, faults={"500": 1}, path_regex=rf"^/{moto['bucket']}/raw/(?:{alternatives})(?:\?|$)|"
                                                              rf"/_staging/[^/]+/00001/", methods=["GET", "PUT"])
    raw, dest = f"s3://{moto['bucket']}/raw", f"s3://{moto['bucket']}/lake-persistent"
    with pytest.raises(RuntimeError, match=r"partial: 1 of \d+ batches failed"):
        pipeline.nightly(pipeline.RunSettings(source=raw, dest=dest, runner="threads", batch_files=BATCH_FILES, workers=2))
    assert proxy.counts["500"] > 0
    proxy.off()
    snap = s3_snapshot(moto, "lake-persistent")
    failures = snap["failures"]
    read_failed = failures.filter(pl.col("stage") == "read")
    assert set(unreadable) <= set(read_failed.get_column("source").to_list())
    assert all(e.startswith("InternalError") for e in read_failed.filter(pl.col("source").is_in(unreadable))
               .get_column("error").to_list())
    batch_failed = failures.filter(pl.col("stage") == "batch")
    assert batch_failed.height == BATCH_FILES
    assert batch_failed.get_column("error").str.starts_with("batch 00001: StorageError").all()
    s3_accounting(moto, "lake-persistent", "S3, persistent errors (3 objects, one batch's staging)")
    runs = lake.read_runs(store_for(moto, "lake-persistent"))
    assert runs.get_column("status").to_list() == ["partial"]

    s = pipeline.nightly(pipeline.RunSettings(source=raw, dest=dest, runner="threads", batch_files=BATCH_FILES, workers=2))
    retried = set(batch_failed.get_column("source").to_list()) | set(unreadable)
    assert s["status"] == "completed"
    assert s["parsed"] == len(retried - set(clean["lake"]["failures"].get_column("source").to_list()))
    assert_same_lake(s3_snapshot(moto, "lake-persistent"), clean["lake"])
    s3_accounting(moto, "lake-persistent", "S3, persistent errors, next run")


def test_a_server_that_never_answers_is_timed_out_and_retried(moto, proxy):
    from tests.servers import s3_settings

    settings = s3_settings(dict(moto, endpoint_url=proxy.url)).model_copy(update={"read_timeout": 0.5})
    store = Store(f"s3://{moto['bucket']}/timeouts", settings=settings)
    store.put_bytes("a.txt", b"payload")
    proxy.configure(share=1.0, faults={"timeout": 1}, timeout_s=2.0, methods=["GET", "PUT"], max_faults=2)
    t0 = time.monotonic()
    assert store.read_many(["a.txt"]) == [("a.txt", b"payload", None)]
    store.put_bytes("b.txt", b"second")  # the held PUT never reached the server: written once, by the retry
    assert time.monotonic() - t0 < 10
    proxy.off()
    assert proxy.counts["timeout"] == 2 and store.get_bytes("b.txt") == b"second"


# -- the lease under faults ---------------------------------------------------------------------------------------

def test_lease_survives_lost_answers_and_a_dead_holder_is_replaced(moto, proxy, tmp_path):
    from tests.servers import store_for

    store = store_for(dict(moto, endpoint_url=proxy.url), "lease-test")
    # every conditional PUT is applied but its answer lost: the lease is still ours, not "held by someone"
    proxy.configure(share=1.0, faults={"reset_after": 1}, methods=["PUT"], max_faults=1)
    lease = lake.acquire_lease(store, "run-a", ttl_s=60)
    proxy.configure(share=1.0, faults={"reset_after": 1}, methods=["PUT"], max_faults=1)
    lease.renew(120)
    assert lease.expires_at > time.time() + 100
    proxy.off()
    assert proxy.counts["reset_after"] == 2
    with pytest.raises(lake.LeaseHeldError, match="run-a"):
        lake.acquire_lease(store, "run-b", ttl_s=60)
    assert lease.release()

    # a holder killed on this machine is replaced at once, without waiting for its expiry
    local = Store(tmp_path / "lake")
    code = ("from tasks import lake; from tasks.storage import Store; import os, signal; "
            f"lake.acquire_lease(Store({str(tmp_path / 'lake')!r}), 'killed-run', 3600); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False)
    assert proc.returncode == -signal.SIGKILL
    taken = lake.acquire_lease(local, "next-run", ttl_s=60)
    assert taken.stolen_from == "killed-run"
    taken.release()


def test_lease_keep_alive_renews_and_check_notices_a_takeover(tmp_path):
    store = Store(tmp_path / "lake")
    lease = lake.acquire_lease(store, "run-a", ttl_s=1.5)
    lease.keep_alive(1.5, every_s=0.2)
    time.sleep(2.0)
    lease.check()  # still ours: renewed meanwhile
    with pytest.raises(lake.LeaseHeldError):
        lake.acquire_lease(store, "run-b", ttl_s=60)
    # an operator removes it (or it expired and was taken over): the holder notices before its next write
    store.delete([lake.LEASE_KEY])
    time.sleep(0.5)
    with pytest.raises(lake.LeaseLostError):
        lease.check()
    assert lease.release()  # nothing to delete any more


def test_temporary_files_of_dead_writers_are_removed(tmp_path):
    store = Store(tmp_path / "lake")
    store.put_bytes("x.txt", b"x")  # creates _tmp/
    tmp = tmp_path / "lake" / "_tmp"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (tmp / f".put-{dead}-abc.tmp").write_bytes(b"half a partition")  # a writer SIGKILLed before its rename
    (tmp / f".put-{os.getpid()}-def.tmp").write_bytes(b"being written")  # a live writer's
    (tmp / ".put-old.tmp").write_bytes(b"no pid, old")
    os.utime(tmp / ".put-old.tmp", (time.time() - 2 * 86400,) * 2)
    (tmp / "locks").mkdir()
    (tmp / "locks" / "k.lock").write_bytes(b"")
    assert store.clean_tmp() == 2
    assert sorted(p.name for p in tmp.rglob("*")) == [f".put-{os.getpid()}-def.tmp", "k.lock", "locks"]


def test_report_accounting():
    """Print the accounting of every scenario of this module (pytest -s shows it)."""
    for scenario, counts in ACCOUNTING.items():
        print(f"{scenario}: objects {counts['objects']} = reports {counts['reports']} + duplicates "
              f"{counts['duplicates']} + failures {counts['failures']}")
