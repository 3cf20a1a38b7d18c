"""The deployment for real on this machine: a Prefect server, both work pools, deploy/prefect.yaml deployed with the
CLI, a process worker, the nightly deployment run on a generated corpus, then run again (overlapping) to no effect;
a nightly run's steps read back through the API as task runs; a backfill of one year."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from tests.conftest import REPO
from tests.servers import free_ports

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
GOVREPORTS = str(BIN / "govreports")
N_REPORTS = 40
SERVER_STARTUP_S = 90.0
RUN_TIMEOUT_S = 180.0
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
RETRY_STATUS = {429, 502, 503}
SQLALCHEMY_21_SCHEDULER_BUG = "Can't evaluate bulk DML statement"


@dataclass
class Stack:
    api: httpx.Client
    api_url: str
    env: dict[str, str]
    source: Path
    lake: Path
    server_log: Path
    worker_log: Path

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run `prefect ARGS` from the repository root as an operator would; fail with its output."""
        proc = subprocess.run([PREFECT, *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            pytest.fail(f"`prefect {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; like Prefect's own client, retry what the server says is transient (503 "database is
        locked" from its SQLite, 429)."""
        for attempt in range(8):
            resp = self.api.request(method, path, **kwargs)
            if resp.status_code not in RETRY_STATUS:
                break
            time.sleep(0.25 * 2**attempt)
        if resp.is_error:
            pytest.fail(f"{method} {resp.request.url}: {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def deployment(self, flow: str, name: str) -> dict[str, Any]:
        return self.call("GET", f"deployments/name/{flow}/{name}")

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"flow_runs/{run_id}")

    def wait_terminal(self, run_ids: list[str], timeout: float = RUN_TIMEOUT_S) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            runs = [self.flow_run(i) for i in run_ids]
            if all(r["state_type"] in TERMINAL for r in runs):
                return runs
            if time.monotonic() > deadline:
                pytest.fail(f"flow runs not finished after {timeout:.0f} s: "
                            f"{[(r['name'], r['state_type']) for r in runs]}\n{self.logs()}")
            time.sleep(1.0)

    def summary_artifact(self, run_id: str) -> str:
        body = {"artifacts": {"key": {"any_": ["govreports-run-summary"]}, "flow_run_id": {"any_": [run_id]}}}
        found = self.call("POST", "artifacts/filter", json=body)
        assert len(found) == 1, f"expected one govreports-run-summary artifact for run {run_id}, found {len(found)}"
        return found[0]["data"]

    def pause_nightly_schedules(self) -> None:
        """No scheduled run may start during the test (02:00 Beijing is 18:00 UTC): deactivate, drop what exists."""
        for name in ("nightly", "nightly-k8s"):
            dep = self.deployment("nightly", name)
            for sched in dep["schedules"]:
                self.call("PATCH", f"deployments/{dep['id']}/schedules/{sched['id']}", json={"active": False})
            for run in self.scheduled_runs(dep["id"]):
                self.call("DELETE", f"flow_runs/{run['id']}")

    def scheduled_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_ASC", "limit": 20}
        return self.call("POST", "flow_runs/filter", json=body)

    def logs(self) -> str:
        return (f"--- worker log (tail) ---\n{tail(self.worker_log)}\n"
                f"--- server log (tail) ---\n{tail(self.server_log)}")


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def start(args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:  # the child keeps its own handle
        # its own session: stopping it also stops what it started (the worker's flow-run processes)
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen | None, grace_s: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run_side_by_side(commands: list[list[str]], *, env: dict[str, str], timeout: float = 180.0) -> None:
    """Independent `prefect …` commands at once, from the repository root; fail with the output of any that fails."""
    procs = [(a, subprocess.Popen([PREFECT, *a], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)) for a in commands]
    failed = []
    for args, proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        if proc.returncode:
            failed.append(f"`prefect {' '.join(args)}` exited {proc.returncode}:\n{out[-3000:]}")
    assert not failed, "\n".join(failed)


def wait_healthy(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited {server.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {SERVER_STARTUP_S:.0f} s:\n{tail(log)}")


def server_env(home: Path, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # nothing from the caller's profile
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # poll often: the test waits on it
        "GOVREPORTS_IMAGE": "registry.example.com/govreports:test",  # the k8s deployments' image (never pulled here)
    }
    return env


def input_report_keys(source: Path) -> list[str]:
    """What the pipeline treats as reports: not control files (`_…`), hidden files or sidecars (`….meta.json`)."""
    keys = []
    for p in sorted(source.rglob("*")):
        rel = p.relative_to(source).as_posix()
        if p.is_file() and not p.name.startswith((".", "_")) and not rel.endswith(".meta.json"):
            keys.append(rel)
    return keys


def lake_snapshot(lake: Path) -> dict[str, str]:
    """sha256 of every lake file except what each run adds by design: its run record and its data-quality report
    (`_reports/<run>.html`, `latest.html`), and the store's lock files."""
    return {p.relative_to(lake).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*")) if p.is_file() and p.relative_to(lake).parts[0] not in ("_runs", "_reports", "_tmp")}


def summary_value(markdown: str, field: str) -> str:
    m = re.search(rf"^\| {re.escape(field)} \| (.*?) \|$", markdown, re.M)
    assert m, f"{field!r} missing from the run summary:\n{markdown}"
    return m.group(1)


# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("deploy")
    (port,) = free_ports(1)
    api_url = f"http://127.0.0.1:{port}/api"
    env = server_env(tmp / "prefect-home", api_url)
    source, lake = tmp / "source", tmp / "lake"
    server_log, worker_log = tmp / "server.log", tmp / "worker.log"
    server = worker = None
    api = httpx.Client(base_url=api_url + "/", timeout=30)
    try:
        server = start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                       env=env, cwd=tmp, log=server_log)
        # meanwhile: the input corpus (a local store), as an operator's bucket would hold it
        gen = subprocess.run([GOVREPORTS, "generate", "--reports", str(N_REPORTS), "--dest", str(source), "--seed", "11"],
                             env=env, cwd=tmp, capture_output=True, text=True, timeout=120)
        assert gen.returncode == 0, gen.stderr
        wait_healthy(api_url, server, server_log)

        # the operator's set-up, as in deploy/README.md (independent commands, run side by side)
        setup = [
            ["work-pool", "create", "govreports-process", "--type", "process"],
            ["work-pool", "create", "govreports-k8s", "--type", "kubernetes",
             "--base-job-template", "deploy/k8s/base-job-template.json"],
            ["variable", "set", "govreports_source", str(source)],
            ["variable", "set", "govreports_dest", str(lake)],
        ]
        run_side_by_side(setup, env=env)

        # deploy both sets with deploy/README.md's commands (side by side; the k8s set needs GOVREPORTS_IMAGE)
        deploys = [["--no-prompt", "deploy", "--prefect-file", "deploy/prefect.yaml", "--name", a, "--name", b]
                   for a, b in (("nightly", "backfill"), ("nightly-k8s", "backfill-k8s"))]
        run_side_by_side(deploys, env=env)
        s = Stack(api, api_url, env, source, lake, server_log, worker_log)
        # the worker runs elsewhere than the repository: the deployment's pull step must take the run there
        worker = start([PREFECT, "worker", "start", "--pool", "govreports-process"], env=env, cwd=tmp, log=worker_log)
        yield s
    finally:
        api.close()
        stop(worker)
        stop(server)


def test_deployments_are_registered_as_declared(stack):
    nightly = stack.deployment("nightly", "nightly")
    assert nightly["work_pool_name"] == "govreports-process"
    assert nightly["entrypoint"] == "flows/pipeline.py:nightly"
    # the Prefect Variables were resolved at deploy time
    assert nightly["parameters"] == {"settings": {"source": str(stack.source), "dest": str(stack.lake), "runner": "local"}}
    (sched,) = nightly["schedules"]
    assert (sched["schedule"]["cron"], sched["schedule"]["timezone"]) == ("0 2 * * *", "Asia/Shanghai")
    assert nightly["global_concurrency_limit"]["limit"] == 1
    assert nightly["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert nightly["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]

    backfill = stack.deployment("backfill", "backfill")
    assert backfill["schedules"] == []
    assert "years" not in backfill["parameters"] and "years" in backfill["parameter_openapi_schema"]["required"]

    # the Kubernetes pool accepted deploy/k8s/base-job-template.json, and its deployments' job variables
    pool = stack.call("GET", "work_pools/govreports-k8s")
    assert pool["type"] == "kubernetes"
    assert pool["base_job_template"] == json.loads((REPO / "deploy/k8s/base-job-template.json").read_text())
    for flow in ("nightly", "backfill"):
        k8s = stack.deployment(flow, f"{flow}-k8s")
        assert k8s["work_pool_name"] == "govreports-k8s"
        assert k8s["job_variables"]["image"] == stack.env["GOVREPORTS_IMAGE"]
        assert k8s["parameters"]["settings"]["dask_address"] == "tcp://dask-scheduler:8786"
        assert k8s["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/govreports"}}]


def test_the_schedule_creates_nightly_runs_at_two_beijing_time(stack):
    dep = stack.deployment("nightly", "nightly")
    deadline = time.monotonic() + 60
    try:
        while not (runs := stack.scheduled_runs(dep["id"])):
            if SQLALCHEMY_21_SCHEDULER_BUG in stack.server_log.read_text(errors="replace"):
                pytest.fail("the Prefect server's scheduler fails on every loop, so the cron schedule never creates a "
                            "run: prefect 3.8.8 with SQLAlchemy 2.1 (`Can't evaluate bulk DML statement` in "
                            "_insert_scheduled_flow_runs); pin sqlalchemy<2.1 (2.0.58 works)")
            if time.monotonic() > deadline:
                pytest.fail(f"no scheduled runs after 60 s\n{stack.logs()}")
            time.sleep(1.0)
        starts = [datetime.fromisoformat(r["expected_start_time"]) for r in runs]
        assert all(t.astimezone(UTC).time().isoformat() == "18:00:00" for t in starts), starts  # 02:00 UTC+8
        assert all(b - a == timedelta(days=1) for a, b in zip(starts, starts[1:], strict=False)), starts
        assert all(r["auto_scheduled"] for r in runs)
    finally:
        stack.pause_nightly_schedules()


def test_nightly_runs_on_the_process_worker_and_a_rerun_changes_nothing(stack):
    stack.pause_nightly_schedules()
    inputs = input_report_keys(stack.source)
    assert len(inputs) >= N_REPORTS

    # --- first run: as an operator starts it -----------------------------------------------------------------
    out = stack.cli("deployment", "run", "nightly/nightly")
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
    (run,) = stack.wait_terminal([run_id])
    assert run["state_type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"

    parts = sorted(p.relative_to(stack.lake).as_posix() for p in stack.lake.glob("reports/year=*/admin_level=*/part-0.parquet"))
    assert parts, f"no report partitions in {stack.lake}"
    assert sorted(p.relative_to(stack.lake).as_posix() for p in (stack.lake / "reports").rglob("*") if p.is_file()) == parts
    reports = pl.read_parquet(str(stack.lake / "reports" / "**" / "*.parquet"), hive_partitioning=True)

    state = pl.read_parquet(stack.lake / "_state" / "processed.parquet")
    assert sorted(state.get_column("key").to_list()) == inputs  # every input file is accounted for
    parsed_keys = state.filter(pl.col("status") == "parsed").get_column("key").to_list()
    failed = state.height - len(parsed_keys)
    summary = stack.summary_artifact(run_id)
    assert int(summary_value(summary, "parsed")) == len(parsed_keys)
    assert int(summary_value(summary, "failed")) == failed
    # one report row per successfully parsed file; byte-identical files are one report listing the others
    distinct = {hashlib.sha256((stack.source / k).read_bytes()).hexdigest() for k in parsed_keys}
    assert reports.height == len(distinct)
    duplicates = reports.get_column("duplicate_sources").list.len().fill_null(0).sum()
    assert reports.height + duplicates == len(parsed_keys)
    assert reports.get_column("report_id").n_unique() == reports.height
    before = lake_snapshot(stack.lake)

    # --- then two overlapping runs: CANCEL_NEW lets one through, which finds nothing to do ------------------------
    dep = stack.deployment("nightly", "nightly")
    pair = [stack.call("POST", f"deployments/{dep['id']}/create_flow_run", json={})["id"] for _ in range(2)]
    runs = stack.wait_terminal(pair)
    states = sorted(r["state_type"] for r in runs)
    assert states == ["CANCELLED", "COMPLETED"], f"{[(r['name'], r['state']) for r in runs]}\n{stack.logs()}"
    (second,) = [r for r in runs if r["state_type"] == "COMPLETED"]
    summary2 = stack.summary_artifact(second["id"])
    assert int(summary_value(summary2, "parsed")) == 0
    assert int(summary_value(summary2, "skipped")) == len(inputs)

    after = lake_snapshot(stack.lake)
    assert after == before, {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert len(list((stack.lake / "_runs").glob("*.parquet"))) == 2  # one record per run that ran


# what a nightly run shows in the Prefect UI: each step of the flow body as a task run, in this order
NIGHTLY_STEPS = ("recover", "list", "plan", "parse-batch", "ocr-batch", "commit", "record-run", "cross-year",
                 "quality-report")


def step_of_task_run(name: str) -> str | None:
    """The flow step a task run belongs to, by its name (`parse-batch-00003`, `cross-year-<run id>`)."""
    return next((step for step in NIGHTLY_STEPS if name == step or name.startswith(step + "-")), None)


def test_a_nightly_run_shows_its_steps_as_task_runs(stack, tmp_path):
    """The flow body is its steps: list, plan, the parse batches, the OCR batches (a one-page scan is added to the
    source), commit, record-run and the post-run steps each appear in the API as Completed task runs with their own
    start and end, in the flow's order. The run is given its own settings object (a fresh lake, small batches): it
    replaces the deployment's whole."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    stack.pause_nightly_schedules()
    from tests import scans

    source = tmp_path / "source"
    shutil.copytree(stack.source, source)
    pages, _ = scans.draw_record(scans.record_of(scans.expected("003_79956ac3fa82cfa6")), scans.VARIANTS[0].dpi)
    (source / "scan.pdf").write_bytes(scans.to_pdf(scans.scan(pages[:1], scans.VARIANTS[0]), scans.VARIANTS[0].dpi))
    settings = {"source": str(source), "dest": str(tmp_path / "lake"), "runner": "local", "batch_files": 16}
    out = stack.cli("deployment", "run", "nightly/nightly", "--params", json.dumps({"settings": settings}))
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
    (run,) = stack.wait_terminal([run_id])
    assert run["state_type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
    assert run["parameters"] == {"settings": settings}

    with temporary_settings({PREFECT_API_URL: stack.api_url}), get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])))
    by_step: dict[str | None, list[Any]] = {}
    for tr in task_runs:
        by_step.setdefault(step_of_task_run(tr.name), []).append(tr)
    assert set(by_step) == set(NIGHTLY_STEPS), sorted(tr.name for tr in task_runs)
    for step, runs in by_step.items():
        for tr in runs:
            assert tr.state_type is not None and tr.state_type.value == "COMPLETED", (tr.name, tr.state)
            assert tr.start_time and tr.end_time and tr.end_time >= tr.start_time, (tr.name, tr.start_time, tr.end_time)
        if step not in ("parse-batch", "ocr-batch"):
            assert len(runs) == 1, [tr.name for tr in runs]
    summary = stack.summary_artifact(run_id)
    batches = int(summary_value(summary, "batches"))
    scans = int(summary_value(summary, "scans"))  # the one added, and any the generated corpus holds
    assert len(by_step["parse-batch"]) > 1 and 1 <= len(by_step["ocr-batch"]) <= scans  # 16 files a batch at most
    assert len(by_step["parse-batch"]) + len(by_step["ocr-batch"]) == batches  # one task run per batch
    # in the flow's order: each step starts after the previous step's task runs ended
    for before, after in zip(NIGHTLY_STEPS, NIGHTLY_STEPS[1:], strict=False):
        ended = max(tr.end_time for tr in by_step[before])
        started = min(tr.start_time for tr in by_step[after])
        assert started >= ended, f"{after} started at {started}, before {before} ended at {ended}"
    assert (tmp_path / "lake" / "_reports" / "latest.html").exists()


def test_backfill_deployment_reprocesses_the_given_year(stack):
    state_file = stack.lake / "_state" / "processed.parquet"
    if not state_file.exists():
        pytest.skip("needs the lake of the nightly test")
    state = pl.read_parquet(state_file)
    year = state.get_column("year").drop_nulls().mode().sort()[0]
    tables_before = {k: v for k, v in lake_snapshot(stack.lake).items() if not k.startswith("_state/")}

    out = stack.cli("deployment", "run", "backfill/backfill", "--param", f"years=[{year}]")
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
    (run,) = stack.wait_terminal([run_id])
    assert run["state_type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
    assert run["parameters"]["years"] == [year]
    summary = stack.summary_artifact(run_id)
    assert int(summary_value(summary, "parsed")) == state.filter(pl.col("year") == year).height
    # the year's partitions are rebuilt from the same inputs: the same bytes
    tables_after = {k: v for k, v in lake_snapshot(stack.lake).items() if not k.startswith("_state/")}
    assert tables_after == tables_before
