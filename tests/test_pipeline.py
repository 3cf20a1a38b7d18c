"""End to end: the real nightly/backfill flows (Prefect test harness) over a local folder, SeaweedFS and Dask."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import batches as flow_batches
from flows import pipeline
from flows import plan as flow_plan
from flows.settings import PipelineSettings, RunSettings
from schemas.tables import TABLES
from tasks.lake import commit as lake_commit
from tasks.parse.documents import PARSER_VERSION
from tasks.parse.pdf import SCAN_PAGE_BYTES
from tasks.storage import Store
from tasks.synth.corpus import generate_corpus, read_truth
from tasks.synth.render import random_record, render_bytes

pytestmark = pytest.mark.slow
N_REPORTS = 160


@pytest.fixture(scope="module")
def harness():
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()  # Dask workers need the real API
        yield
        os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("corpus")
    generate_corpus(Store(str(src)), N_REPORTS, seed=7, duplicate_share=0.05, broken_share=0.03, sidecar_share=0.3)
    return src


def lake_frames(dest: Path | str) -> dict[str, pl.DataFrame]:
    from tasks import lake
    store = Store(str(dest))
    out = {}
    for name in TABLES:
        frame = lake.read_table(store, name)
        out[name] = frame.sort(lake.grain(name), nulls_last=True)
    return out


def assert_same_lake(a, b) -> None:
    for name in TABLES:
        assert_frame_equal(a[name], b[name], check_row_order=True)


def table_files(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*.parquet"))
            if p.relative_to(dest).parts[0] in TABLES}


def run(src, dest, **kw) -> dict:
    kw.setdefault("runner", "threads")
    return pipeline.nightly(RunSettings(source=str(src), dest=str(dest), **kw))


def test_nightly_lake_matches_truth_and_reruns_change_nothing(harness, corpus, tmp_path):
    dest = tmp_path / "lake"
    summary = run(corpus, dest)
    truth = read_truth(Store(str(corpus)))
    reports = [t for t in truth if t["kind"] == "report"]
    assert summary["status"] == "completed"
    assert summary["files_seen"] == len(truth)
    lake = lake_frames(dest)
    # exact partition paths
    for t in reports:
        rec = t["record"]
        assert (dest / "reports" / f"year={rec['year']}" / f"admin_level={rec['admin_level']}" / "part-0.parquet").exists()
    # accounting: every object is a report row (or a duplicate listed on one) or a failure
    rep = lake["reports"]
    dups = rep.select(pl.col("duplicate_sources").list.len().fill_null(0).sum()).item()
    assert rep.height + dups == len(truth)
    # the lake equals the truth file, value for value, where the layout lets values be read with certainty
    by_source = {r["source"]: r for r in rep.iter_rows(named=True)}
    apps = lake["applications"]
    for t in reports:
        row = by_source.get(t["key"]) or next(r for r in by_source.values() if t["key"] in (r["duplicate_sources"] or []))
        rec = t["record"]
        assert (row["year"], row["admin_level"], row["format_version"]) == (rec["year"], rec["admin_level"], rec["format_version"])
        if t["layout"] == "flattened":
            continue
        got = apps.filter(pl.col("report_id") == row["report_id"]).sort("row_order")
        want = [rec["applications"][k] for k in got.get_column("row_key").to_list()]
        assert got.select("natural_person", "commercial", "research", "nonprofit", "legal_service", "other", "total").rows() \
            == [tuple(v) for v in want], t["key"]
    # broken files with the same bytes (several empty files) are one report listing the others as duplicates
    broken_contents = {(corpus / t["key"]).read_bytes() for t in truth if t["kind"] == "broken"}
    assert rep.filter(pl.col("parse_status") == "unsupported").height == len(broken_contents)
    before = table_files(dest)
    again = run(corpus, dest)
    assert again["parsed"] == 0 and again["skipped"] == len(truth)
    assert table_files(dest) == before
    runs = pl.concat([pl.read_parquet(p) for p in (dest / "_runs").glob("*.parquet")], how="diagonal_relaxed")
    assert runs.height == 2


def test_add_change_delete_and_move_partition(harness, corpus, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(corpus, src)
    dest = tmp_path / "lake"
    run(src, dest)
    truth = [t for t in read_truth(Store(str(src))) if t["kind"] == "report" and "sidecar" not in t]
    gone, changed = truth[0], truth[1]
    (src / gone["key"]).unlink()
    rec = dict(changed["record"], year=2020 if changed["record"]["year"] != 2020 else 2022)
    rec = random_record(__import__("random").Random(1), year=rec["year"], organ=rec["organ"], admin_level=rec["admin_level"])
    (src / changed["key"]).write_bytes(render_bytes(rec, "pipe", rng=3))
    (src / "new" / "added.txt").parent.mkdir()
    added = random_record(__import__("random").Random(2), year=2023, organ="淮安市人民政府", admin_level="prefectural")
    (src / "new" / "added.txt").write_bytes(render_bytes(added, "pdf_text", rng=4))
    from tests.test_attachments import _huaian_pages, _pdf

    (src / "new" / "huaian.pdf").write_bytes(_pdf(_huaian_pages()))  # a report published as a PDF attachment
    s = run(src, dest)
    assert (s["parsed"], s["deleted"]) == (3, 1)
    rep = lake_frames(dest)["reports"]
    sources = set(rep.get_column("source").to_list())
    assert gone["key"] not in sources and {"new/added.txt", "new/huaian.pdf"} <= sources
    pdf = rep.filter(pl.col("source") == "new/huaian.pdf").row(0, named=True)
    assert (pdf["encoding"], pdf["layout"], pdf["year"], pdf["admin_level"], pdf["parse_status"]) == \
        ("pdf", "pdf_text", 2024, "prefectural", "ok")
    moved = rep.filter(pl.col("source") == changed["key"]).row(0, named=True)
    assert moved["year"] == rec["year"]
    old_part = dest / "reports" / f"year={changed['record']['year']}" / f"admin_level={changed['record']['admin_level']}" / "part-0.parquet"
    if old_part.exists():
        assert changed["key"] not in pl.read_parquet(old_part).get_column("source").to_list()
    for name in ("applications", "findings"):
        ids = set(lake_frames(dest)[name].get_column("report_id").to_list())
        assert ids <= set(rep.get_column("report_id").to_list())  # nothing left behind of the deleted report


def test_run_killed_between_staging_and_commit_recovers(harness, corpus, tmp_path, monkeypatch):
    clean = tmp_path / "clean"
    run(corpus, clean)
    dest = tmp_path / "lake"

    class Killed(Exception):
        pass

    def die(*_a, **_k):
        raise Killed("killed between staging and commit")

    monkeypatch.setattr(lake_commit, "commit_run", die)
    with pytest.raises(Killed):
        run(corpus, dest)
    assert any((dest / "_staging").rglob("_SUCCESS"))  # staged, never committed
    assert not (dest / "reports").exists()
    monkeypatch.undo()
    # the lease of the killed run is still there: it expires; here we break it as an operator would
    (dest / "_state" / "lease.json").unlink(missing_ok=True)
    run(corpus, dest)
    assert not list((dest / "_staging").rglob("*")) if (dest / "_staging").exists() else True
    assert_same_lake(lake_frames(dest), lake_frames(clean))


def test_backfill_years(harness, corpus, tmp_path):
    dest = tmp_path / "lake"
    run(corpus, dest)
    s = pipeline.backfill([2021, 2022], RunSettings(source=str(corpus), dest=str(dest), runner="threads"))
    truth = [t for t in read_truth(Store(str(corpus))) if t["kind"] == "report" and t["record"]["year"] in (2021, 2022)]
    assert s["parsed"] >= len(truth)
    assert s["parsed"] < s["files_seen"]


def test_dask_local_cluster_gives_the_same_lake(harness, corpus, tmp_path):
    a, b = tmp_path / "threads", tmp_path / "dask"
    run(corpus, a, batch_files=60)
    run(corpus, b, runner="dask", batch_files=60, workers=2)
    assert_same_lake(lake_frames(a), lake_frames(b))


def test_s3_seaweedfs_end_to_end(harness, corpus, tmp_path, monkeypatch):
    from tests.servers import seaweedfs_s3

    local = tmp_path / "local"
    run(corpus, local)
    with seaweedfs_s3() as s3:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["key"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["secret"])
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3["endpoint_url"])
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        src = Store(f"s3://{s3['bucket']}/raw")
        for p in sorted(corpus.rglob("*")):
            if p.is_file() and not p.relative_to(corpus).parts[0].startswith("_tmp"):
                src.put_bytes(str(p.relative_to(corpus)), p.read_bytes())
        dest_url = f"s3://{s3['bucket']}/lake"
        s = pipeline.nightly(RunSettings(source=src.url, dest=dest_url, runner="threads"))
        assert s["status"] == "completed"
        dest = Store(dest_url)
        keys = set(dest.list_objects("reports/").get_column("key").to_list())
        for y, lv in pl.read_parquet(str(local / "reports" / "**" / "*.parquet"), hive_partitioning=True).select(
                "year", "admin_level").unique().iter_rows():
            assert f"reports/year={y}/admin_level={lv}/part-0.parquet" in keys
        assert_same_lake(lake_frames(dest_url), lake_frames(local))
        again = pipeline.nightly(RunSettings(source=src.url, dest=dest_url, runner="threads"))
        assert again["parsed"] == 0
        logs = json.dumps(s, default=str) + json.dumps(again, default=str)
        assert s3["secret"] not in logs


_WORKER_API_SCRIPT = r'''
import json, os, sys
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
import psutil
from flows.batches import _workers_share_api, make_task_runner

@task(cache_policy=NO_CACHE)
def probe(i):
    servers = [c for c in psutil.Process().children(recursive=True) if "uvicorn" in " ".join(c.cmdline())]
    return {"pid": os.getpid(), "api": os.environ.get("PREFECT_API_URL"), "own_servers": len(servers)}

@flow
def main(runner):
    from prefect.context import FlowRunContext
    with _workers_share_api(runner), make_task_runner(runner, workers=2) as tr:
        out = [f.result() for f in [tr.submit(probe, parameters={"i": i}) for i in range(4)]]
    return {"flow_api": str(FlowRunContext.get().client.api_url).rstrip("/"), "tasks": out,
            "env_after": os.environ.get("PREFECT_API_URL")}

if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1])))
'''


@pytest.mark.parametrize("runner", ["local", "dask"])
def test_workers_report_to_the_flows_temporary_server(tmp_path, runner):
    """Without a configured API (the embedded default), worker processes use the flow's temporary server instead
    of each starting one of their own (~10 s and ~650 MiB per worker, measured here)."""
    import subprocess
    import sys

    script = tmp_path / "probe_workers.py"
    script.write_text(_WORKER_API_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90", PREFECT_LOGGING_LEVEL="WARNING",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, str(script), runner], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    res = json.loads(line[len("RESULT "):])
    assert len({t["pid"] for t in res["tasks"]} - {os.getpid()}) >= 1
    for t in res["tasks"]:
        assert t["api"] == res["flow_api"], res
        assert t["own_servers"] == 0, res
    assert res["env_after"] is None  # the flow process's environment is left as it was


def test_worker_idle_time_is_split_into_start_up_between_batches_and_tail():
    # two workers over a phase from t=100 to t=130: A's batches 103–110 and 111–120, B's one batch 105–128
    spans = [("host:A", 111.0, 120.0), ("host:B", 105.0, 128.0), ("host:A", 103.0, 110.0)]
    idle = flow_batches._worker_idle(spans, 100.0, 130.0)
    assert idle == {"workers_seen": 2.0, "worker_startup_s": 3.0 + 5.0, "worker_between_s": 1.0,
                    "worker_tail_s": 10.0 + 2.0}
    assert flow_batches._worker_idle([], 100.0, 130.0)["workers_seen"] == 0.0


def _sizes(n: int, workers: int, max_files: int = 2000, max_bytes: int = 64 * 2**20, size: int = 100) -> list[int]:
    items = [{"key": f"k{i:06d}", "size": size, "etag": "e"} for i in range(n)]
    batches = flow_plan.make_batches(items, max_files, max_bytes, workers=workers)
    assert [it["key"] for b in batches for it in b] == [it["key"] for it in items]  # every item once, in order
    return [len(b) for b in batches]


def test_batches_taper_towards_the_end_of_a_run():
    # 100k on 2 workers: full batches, the remainder, then 2 of each of 1000, 500, 250
    sizes = _sizes(100_000, 2)
    assert sizes == [2000] * 48 + [500, 1000, 1000, 500, 500, 250, 250]
    assert _sizes(30_000, 4)[-8:] == [500] * 4 + [250] * 4
    # one worker: plain batches
    assert _sizes(5000, 1) == [2000, 2000, 1000]


def test_small_runs_are_split_evenly_among_the_workers():
    assert _sizes(3000, 2) == [1500, 1500]
    assert _sizes(5000, 2) == [1250] * 4  # too few to taper: a multiple of the workers
    assert _sizes(4001, 2) == [1001, 1001, 1001, 998]
    assert _sizes(1, 2) == [1]
    assert _sizes(0, 2) == []


def test_batches_keep_the_byte_limit():
    sizes = _sizes(5000, 2, max_bytes=1000, size=100)  # 10 objects a batch by bytes
    assert set(sizes) == {10} and sum(sizes) == 5000


def test_a_batch_parsed_in_chunks_gives_the_frames_of_one_call():
    """process_batch parses `parse_chunk` objects at a time; the frames equal one parse_documents call's, made
    unique on the grain, also for a report whose bytes come twice, in two chunks (the first key wins)."""
    import random

    from tasks import lake
    from tasks.parse.documents import Document, parse_documents

    rng = random.Random(4)
    docs = []
    for i in range(7):
        rec = random_record(rng)
        layout = ("pipe", "html", "flattened", "pdf_text")[i % 4]
        docs.append(Document(f"r/{i}.txt", render_bytes(rec, layout, rng=i), meta={"level": "county"} if i == 1 else None))
    docs.append(Document("r/dup-of-1.txt", docs[1].data))  # same bytes, another chunk, no sidecar
    docs.append(Document("r/broken.txt", b"\x00\x01binary"))
    whole = parse_documents(docs)
    chunked = flow_batches._parse_in_chunks(docs, 3)
    assert [r["source"] for r in chunked.records] == [d.source for d in docs]
    for name, frame in whole.frames.items():
        by = lake.grain(name)
        want = frame.unique(subset=by, keep="first", maintain_order=True).sort(by, nulls_last=True)
        assert_frame_equal(chunked.frames[name].sort(by, nulls_last=True), want)
    dup = chunked.frames["reports"].filter(pl.col("source").is_in(["r/1.txt", "r/dup-of-1.txt"]))
    assert dup.get_column("source").to_list() == ["r/1.txt"] and dup.get_column("admin_level").to_list() == ["county"]


def test_pdfs_share_the_text_batches_and_scans_go_in_ocr_batches_by_real_pages():
    """Every report, PDFs too, goes in the tapered batches (a scan is found there and handed back); the scans handed
    back are batched by their real pages, spread over the workers, the longest first."""
    items = [{"key": f"r/{i}.txt", "size": 5_000} for i in range(3000)]
    items[10:10] = [{"key": f"s/{i}.PDF", "size": 6 * SCAN_PAGE_BYTES} for i in range(9)]
    listing = pl.DataFrame({"key": [it["key"] for it in items], "size": [it["size"] for it in items],
                            "etag": ["e"] * len(items)})
    state = pl.DataFrame(schema={"key": pl.String, "etag": pl.String, "size": pl.Int64, "parser_version": pl.String,
                                 "status": pl.String, "year": pl.Int32, "sidecar_etag": pl.String})
    plan = flow_plan.plan_work(listing, state, PipelineSettings(workers=2))
    assert [len(b) for b in plan.batches] == [1505, 1504]  # the PDFs among the text reports, in key order
    scans = [{"key": f"s/{i}.pdf", "pages": p} for i, p in enumerate([6, 6, 6, 6, 60, 3])]
    batches = flow_plan.ocr_batches(scans, 24, workers=2)
    assert [[it["key"] for it in b] for b in batches] == [["s/4.pdf"], ["s/0.pdf"], ["s/1.pdf"], ["s/2.pdf"],
                                                          ["s/3.pdf", "s/5.pdf"]]  # 60 pages read as 40: alone
    backfill = flow_plan.ocr_batches([{"key": f"b/{i:03d}", "pages": 5} for i in range(200)], 24, workers=2)
    assert {sum(it["pages"] for it in b) for b in backfill} == {20}  # at most 24 pages, whole scans
    assert all(it["ocr"] is True for b in batches for it in b)
    few = flow_plan.ocr_batches([{"key": "a", "pages": 3}, {"key": "b", "pages": 6}], 24, workers=2)
    assert [[it["key"] for it in b] for b in few] == [["b"], ["a"]]  # a few scans: one a worker, not one batch
    assert flow_plan.ocr_batches([], 24, workers=2) == []


def test_a_scan_left_unread_with_ocr_off_is_planned_again_once_ocr_is_on():
    """State marks a scan read with OCR switched off (parser_version +ocr-off): a run with OCR off skips it like any
    unchanged file, the first run with OCR on plans it (users turning OCR on expect their scans read)."""
    listing = pl.DataFrame({"key": ["a.txt", "s.pdf"], "size": [10, 20], "etag": ["e", "e"]})
    state = pl.DataFrame({"key": ["a.txt", "s.pdf"], "etag": ["e", "e"], "size": [10, 20],
                          "parser_version": [PARSER_VERSION, PARSER_VERSION + flow_plan.OCR_OFF_SUFFIX],
                          "status": ["parsed", "parsed"], "year": [2023, 0], "sidecar_etag": [None, None]},
                         schema_overrides={"size": pl.Int64, "year": pl.Int32, "sidecar_etag": pl.String})
    off = flow_plan.plan_work(listing, state, PipelineSettings(ocr=False))
    assert (off.batches, off.skipped) == ([], 2)
    on = flow_plan.plan_work(listing, state, PipelineSettings(ocr=True))
    assert [it["key"] for b in on.batches for it in b] == ["s.pdf"] and on.skipped == 1


def test_a_parse_batch_hands_a_scan_back_with_its_real_pages(tmp_path):
    """A parse batch reads its text reports and does not OCR the scan among them: it hands it back with its page
    count, stages no row and no state for it (its OCR batch does); with OCR switched off it is unsupported."""
    from tasks.parse.decode import OCR_SWITCHED_OFF
    from tests import scans

    src, dest = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    (src / "a.txt").write_bytes(render_bytes(random_record(__import__("random").Random(3)), "pipe"))
    (src / "scan.pdf").write_bytes(scans.to_pdf(scans.scan(scans.draw_record(
        scans.record_of(scans.expected("003_79956ac3fa82cfa6")), 100)[0], scans.VARIANTS[0]), 100))
    items = [{"key": k, "size": (src / k).stat().st_size, "etag": "e"} for k in ("a.txt", "scan.pdf")]
    t0 = __import__("time").perf_counter()
    res = flow_batches.process_batch(str(src), str(dest), "run1", "00000", items, PipelineSettings())
    assert __import__("time").perf_counter() - t0 < 20  # no OCR here (a 4-page scan takes ~10-40 s to read)
    assert res["parsed"] == 1 and res["failed"] == 0
    pages = len(__import__("pypdfium2").PdfDocument((src / "scan.pdf").read_bytes()))
    assert pages > 1 and [(d["key"], d["pages"]) for d in res["deferred"]] == [("scan.pdf", pages)]
    (keys,) = [pl.read_parquet(p) for p in dest.rglob("_keys.parquet") if "run1" in str(p)]
    (reports,) = [pl.read_parquet(p) for p in dest.rglob("reports.parquet") if "run1" in str(p)]
    assert keys.get_column("key").to_list() == ["a.txt"] and reports.get_column("source").to_list() == ["a.txt"]
    off = flow_batches.process_batch(str(src), str(dest), "run2", "00000", items, PipelineSettings(ocr=False))
    assert off["parsed"] == 2 and off["deferred"] == [] and off["findings"].get("unsupported_format") == 1
    (keys,) = [pl.read_parquet(p) for p in dest.rglob("_keys.parquet") if "run2" in str(p)]
    assert dict(keys.select("key", "parser_version").iter_rows()) == {
        "a.txt": PARSER_VERSION, "scan.pdf": PARSER_VERSION + flow_plan.OCR_OFF_SUFFIX}
    (found,) = [pl.read_parquet(p) for p in dest.rglob("findings.parquet") if "run2" in str(p)]
    assert found.filter(pl.col("rule") == "unsupported_format").get_column("message").str.contains(
        OCR_SWITCHED_OFF).all()


@pytest.mark.skipif(not __import__("tasks.parse.ocr", fromlist=["available"]).available(), reason="the ocr extra is not installed")
def test_scans_among_text_reports_land_in_the_lake_with_their_values_or_findings(harness, corpus, tmp_path):
    """A nightly run over the corpus with two scans added (the real huaian PDF rasterised, a seed drawn as a form
    and turned 1.5°): every scan is a reports row read by OCR, with its confirmed numbers in applications and a
    finding for every number left null; the text reports read as before."""
    from tests import scans

    src = tmp_path / "src"
    shutil.copytree(corpus, src)
    (src / "scans").mkdir()
    (src / "scans" / "huaian.pdf").write_bytes(scans.scanned_pdf("huaian_2024_pdf", scans.VARIANTS[0]))
    (src / "scans" / "seed003.pdf").write_bytes(scans.scanned_pdf("003_79956ac3fa82cfa6", scans.VARIANTS[2]))
    dest = tmp_path / "lake"
    summary = run(src, dest, runner="local")
    assert summary["status"] == "completed"
    lake = lake_frames(dest)
    rep = lake["reports"]
    scanned = rep.filter(pl.col("source").str.starts_with("scans/"))
    assert scanned.height == 2 and scanned.get_column("reader").str.starts_with("rapidocr-onnxruntime ").all()
    others = rep.filter(~pl.col("source").str.starts_with("scans/")).get_column("reader")
    assert others.is_in(["text", "lxml"]).all()  # the text reports are read as text, not by OCR
    findings = lake["findings"]
    for row in scanned.iter_rows(named=True):
        exp = scans.expected("huaian_2024_pdf" if "huaian" in row["source"] else "003_79956ac3fa82cfa6")
        assert (row["year"], row["organ"], row["admin_level"]) == (exp["year"], exp["organ"], exp["admin_level"])
        apps = lake["applications"].filter(pl.col("report_id") == row["report_id"])
        named = set(findings.filter((pl.col("report_id") == row["report_id"]) & (pl.col("rule") == "ocr_unconfirmed"))
                    .get_column("field").to_list())
        for r in apps.iter_rows(named=True):
            for j, col in enumerate(("natural_person", "commercial", "research", "nonprofit", "legal_service", "other", "total")):
                want = exp["applications"][r["row_key"]][j]
                assert r[col] == want or (r[col] is None and f"applications.{r['row_key']}[{j}]" in named)
        assert apps.select(pl.col("total").is_not_null().sum()).item() >= 24
    # read in OCR batches of their own (real pages), after the parse batches staged the text reports
    pages = sum(len(__import__("pypdfium2").PdfDocument(p.read_bytes())) for p in (src / "scans").iterdir())
    assert summary["scans"] == 2 and summary["ocr_pages"] == pages
    t = summary["timings"]
    assert 0 < t["text_done_s"] < t["text_done_s"] + t["ocr_s"] <= t["wall_s"] and t["ocr_batches_s"] > 0
    again = run(src, dest, runner="local")
    assert (again["parsed"], again["batches"], again["scans"]) == (0, 0, 0)  # the rerun is idle
    # _runs records both: the scans, their pages and the two steps' times
    from tasks import lake
    runs = lake.read_runs(Store(str(dest))).select("run_id", "scans", "ocr_pages", "text_done_s", "ocr_s").rows()
    assert runs == [(summary["run_id"], 2, pages, t["text_done_s"], t["ocr_s"]),
                    (again["run_id"], 0, 0, again["timings"]["text_done_s"], again["timings"]["ocr_s"])]


def test_a_scan_read_in_its_ocr_batch_gets_a_time_budget_by_its_real_pages():
    """A page's budget for each real page and one for the rest (re-reads, rules); bytes no longer guess the pages of
    a scan whose count is known; a scan the parse batch only looks at (defer, off) and any other file: one."""
    from tasks.parse import isolate
    from tasks.parse.documents import Document
    from tasks.parse.pdf import SCAN_MAX_PAGES, SCAN_PAGE_BYTES

    big = b"%PDF-1.4\n" + b"\0" * (6 * SCAN_PAGE_BYTES)  # bytes enough for 7 pages
    assert isolate.budget_pages(Document("s.pdf", big, ocr="read", pages=2)) == 3
    assert isolate.budget_pages(Document("s.pdf", big, ocr="read", pages=500)) == SCAN_MAX_PAGES + 1
    assert isolate.budget_pages(Document("s.pdf", big, ocr="read")) == 7  # pages unknown: from the bytes
    assert isolate.budget_pages(Document("s.pdf", big, ocr="defer", pages=2)) == 1
    assert isolate.budget_pages(Document("s.pdf", big, ocr="off", pages=2)) == 1
    assert isolate.decode_documents(isolate.encode_documents([Document("s.pdf", big, ocr="read", pages=2)])) == [
        Document("s.pdf", big, ocr="read", pages=2)]  # what the parser process gets


def one_page_scan(seed: str) -> bytes:
    """The first page of a seed's printed form as an image-only PDF (OCR: a few seconds, not a report's worth)."""
    from tests import scans

    variant = scans.VARIANTS[0]
    pages, _ = scans.draw_record(scans.record_of(scans.expected(seed)), variant.dpi)
    return scans.to_pdf(scans.scan(pages[:1], variant), variant.dpi)


def small_source(tmp_path: Path, scans: dict[str, bytes], texts: int = 3) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(texts):
        (src / f"r{i}.txt").write_bytes(render_bytes(random_record(__import__("random").Random(i)), "pipe"))
    for name, data in scans.items():
        (src / name).write_bytes(data)
    return src


@pytest.mark.skipif(not __import__("tasks.parse.ocr", fromlist=["available"]).available(), reason="the ocr extra is not installed")
def test_ocr_switched_off_leaves_scans_unsupported_until_a_run_with_ocr_on(harness, tmp_path):
    """GOVREPORTS_OCR=off: a scan lands as unsupported_format ("OCR switched off"), not OCR'd, and reruns with OCR
    off leave it be; the first run with OCR on reads it (a user turning OCR back on expects the scans read)."""
    src = small_source(tmp_path, {"scan.pdf": one_page_scan("003_79956ac3fa82cfa6")})
    dest = tmp_path / "lake"
    off = run(src, dest, ocr=False, file_time_budget_s=120)  # (budgets wide: a loaded machine must not refuse it)
    assert (off["parsed"], off["scans"], off["status"]) == (4, 0, "completed")
    lake = lake_frames(dest)
    row = lake["reports"].filter(pl.col("source") == "scan.pdf").row(0, named=True)
    assert row["parse_status"] == "unsupported" and row["reader"].startswith("pdfium")
    why = lake["findings"].filter((pl.col("report_id") == row["report_id"]) & (pl.col("rule") == "unsupported_format"))
    assert why.height == 1 and why.item(0, "message").endswith("scanned images): OCR switched off")
    assert run(src, dest, ocr=False)["parsed"] == 0  # OCR still off: nothing to do
    on = run(src, dest, file_time_budget_s=120)
    assert (on["parsed"], on["scans"], on["ocr_pages"]) == (1, 1, 1)
    row = lake_frames(dest)["reports"].filter(pl.col("source") == "scan.pdf").row(0, named=True)
    assert row["reader"].startswith("rapidocr-onnxruntime ") and row["parse_status"] != "unsupported"
    assert run(src, dest)["parsed"] == 0


@pytest.mark.skipif(not __import__("tasks.parse.ocr", fromlist=["available"]).available(), reason="the ocr extra is not installed")
def test_a_backfill_of_scans_spreads_its_ocr_batches_over_the_dask_workers(harness, tmp_path):
    """Two one-page scans on a 2-worker Dask LocalCluster: an OCR batch each, one on each worker."""
    src = small_source(tmp_path, {"a.pdf": one_page_scan("003_79956ac3fa82cfa6"),
                                  "b.pdf": one_page_scan("001_617dfa8ade4c1a0e")}, texts=1)
    out = pipeline.backfill([2023], RunSettings(source=str(src), dest=str(tmp_path / "lake"), runner="dask", workers=2,
                                                       file_time_budget_s=120))
    assert (out["status"], out["parsed"], out["scans"], out["batches"]) == ("completed", 3, 2, 2 + 2)  # 3 files in 2 parse batches, then an OCR batch a scan
    assert out["timings"]["ocr_workers_seen"] == 2  # both OCR batches, each on its own worker


@pytest.mark.skipif(not __import__("tasks.parse.ocr", fromlist=["available"]).available(), reason="the ocr extra is not installed")
def test_a_scan_that_kills_its_worker_in_an_ocr_batch_costs_that_scan_only(tmp_path, monkeypatch):
    """An OCR batch of two scans, the parser process killed in the first: that scan fails with the reason, the
    other is read; a scan's time budget counts its real pages (the batch's items carry them)."""
    import threading

    from tasks import faults

    src = small_source(tmp_path, {"a.pdf": one_page_scan("003_79956ac3fa82cfa6"),
                                  "b.pdf": one_page_scan("001_617dfa8ade4c1a0e")}, texts=0)
    items = [{"key": k, "size": (src / k).stat().st_size, "etag": "e", "pages": 1, "ocr": True} for k in ("a.pdf", "b.pdf")]
    monkeypatch.setenv(faults.ENV_POINT, "parse_doc:a.pdf")
    monkeypatch.setenv(faults.ENV_ACTION, "kill")
    out: dict = {}
    # a thread of its own: a new parser process, started with the fault set
    worker = threading.Thread(target=lambda: out.update(flow_batches.ocr_batch.fn(
        str(src), str(tmp_path / "lake"), "run1", "00001", json.dumps(items), {"file_time_budget_s": 120})))
    worker.start()
    worker.join(600)
    assert (out["parsed"], out["failed"]) == (1, 1)
    (fails,) = [pl.read_parquet(p) for p in (tmp_path / "lake").rglob("_failures.parquet")]
    assert fails.get_column("source").to_list() == ["a.pdf"]
    assert "died (signal SIGKILL)" in fails.item(0, "error")
    (reports,) = [pl.read_parquet(p) for p in (tmp_path / "lake").rglob("reports.parquet")]
    assert reports.get_column("source").to_list() == ["b.pdf"]
    assert reports.item(0, "reader").startswith("rapidocr-onnxruntime ")


def test_the_runs_own_dask_cluster_is_started_without_dasks_profiler_and_frequent_monitors():
    """Dask's background work takes CPU from the workers reading scans (LOCAL_CLUSTER_CONFIG, flows/batches.py):
    the run's own LocalCluster starts with it off or slowed; a cluster the run is given keeps its configuration."""
    import dask
    import prefect_dask  # noqa: F401  (loads distributed and its defaults)

    from flows import batches

    with batches._quiet_local_cluster("dask", None):
        assert dask.config.get("distributed.worker.profile.enabled") is False
        assert dask.config.get("distributed.admin.tick.interval") == "200ms"
    assert dask.config.get("distributed.worker.profile.enabled") is True
    for runner, address in (("dask", "tcp://elsewhere:8786"), ("local", None)):
        with batches._quiet_local_cluster(runner, address):
            assert dask.config.get("distributed.worker.profile.enabled") is True
