"""The data-quality report: numbers match the lake, untrusted text is escaped, and Chromium renders the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from schemas.tables import CROSS_YEAR_FINDINGS, FINDINGS
from tasks import lake
from tasks.report import quality
from tasks.storage import Store
from tests import analyst_lake as answers
from tests.lake_rows import ZERO7, apps, report, write_tables

WINDOW = (1280, 2000)
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png"> | `code` [link](http://evil.example)'


def chromium() -> str:
    """The headless browser; missing is a failure, not a skip: CI must check the page renders."""
    for candidate in (os.environ.get("GOVREPORTS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium is needed to check that the data-quality report renders, and was not found: run "
                "`make browser` (installs the Debian package `chromium`; `make test` does it) or set GOVREPORTS_CHROMIUM")


def run_chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "HOME": str(tmp_path)})


def _hostile_lake(tmp_path: Path) -> Store:
    store = Store(tmp_path / "lake")
    write_tables(store, [report("a21", 2021, HOSTILE), report("a22", 2022, HOSTILE)],
           apps("a21", 2021, ZERO7, [1] * 7) + apps("a22", 2022, [2] * 7, ZERO7))
    finding = {c.name: None for c in FINDINGS.columns} | {
        "report_id": "a22", "year": 2022, "admin_level": "prefectural", "source": f"src/{HOSTILE}.txt",
        "rule": "spam_injection", "severity": "warning", "message": f"injected text: {HOSTILE}"}
    lake.write_partition(store, "findings", 2022, "prefectural", pl.DataFrame([finding], schema=FINDINGS.polars_schema))
    from tasks.rules.cross_year import run_cross_year

    run_cross_year(store)
    return store


def test_report_text_is_escaped_and_the_page_is_self_contained(tmp_path):
    store = _hostile_lake(tmp_path)
    markdown, page = quality.build_quality_report(store, {"run_id": "r1", "status": "completed"}, run_id="r1")
    assert "<script" not in page and "<img" not in page and 'src="' not in page and "<a " not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page and page.count("<svg") == 2
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert "\\[link\\]" in markdown and "\\|" in markdown and "\\`code\\`" in markdown
    widths: list[int] = []  # no cell text broke a table: every row of a table has its header's cell count
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(len(re.findall(r"(?<!\\)\|", line)))
        elif widths:
            assert len(set(widths)) == 1, widths
            widths = []


def test_report_numbers_on_a_small_lake(tmp_path):
    store = _hostile_lake(tmp_path)
    data = quality.collect_quality(store)
    assert data.coverage.rows() == [(2021, "prefectural", 1), (2022, "prefectural", 1)]
    assert data.status.rows() == [("ok", 2)]
    assert set(data.findings.rows()) == {("report", "spam_injection", "warning", 1, 1),
                                         ("cross_year", "carried_over_mismatch", "warning", 7, 1)}
    assert data.totals["findings"] == 8
    header, rows = quality.coverage_matrix(data.coverage)
    assert header == ["year", "prefectural", "total"]
    assert rows == [["2021", 1, 1], ["2022", 1, 1], ["all years", 2, 2]]


def test_an_empty_lake_still_gives_a_report(tmp_path):
    markdown, page = quality.build_quality_report(Store(tmp_path / "empty"))
    assert page.count("<svg") == 2
    assert "| reports in the lake | 0 |" in markdown


def test_write_puts_the_run_and_latest_pages(tmp_path):
    store = _hostile_lake(tmp_path)
    out = quality.write_quality_report(store, "run-1")
    assert out["html_key"] == "_reports/run-1.html" and out["latest_key"] == "_reports/latest.html"
    assert store.get_bytes("_reports/run-1.html") == store.get_bytes("_reports/latest.html")
    with pytest.raises(ValueError):
        quality.write_quality_report(store, "../escape")


# -- on the analyst lake ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_report_numbers_match_the_lake(analyst_lake):
    store = Store(str(analyst_lake.dest))
    data = quality.collect_quality(store)
    reports = lake.read_table(store, "reports")
    assert Counter({(y, lv): n for y, lv, n in data.coverage.iter_rows()}) == Counter(
        reports.select("year", "admin_level").iter_rows())
    assert dict(data.status.iter_rows()) == dict(Counter(reports.get_column("parse_status")))
    findings = lake.read_table(store, "findings")
    cross = lake.read_table(store, CROSS_YEAR_FINDINGS)
    expected = {("report", r, s): n for (r, s), n in Counter(findings.select("rule", "severity").iter_rows()).items()}
    expected |= {("cross_year", r, s): n for (r, s), n in Counter(cross.select("rule", "severity").iter_rows()).items()}
    assert {(sc, r, s): n for sc, r, s, n, _ in data.findings.iter_rows()} == expected
    for scope, rule, source, message in data.examples.iter_rows():
        frame = findings if scope == "report" else cross
        assert frame.filter((pl.col("rule") == rule) & (pl.col("source") == source)
                            & (pl.col("message").str.starts_with(message.rstrip("…")))).height
    assert data.examples.group_by("rule").len().get_column("len").max() <= quality.EXAMPLES_PER_RULE
    # requests per year and level: the truth file's 一、本年新收 (总计)
    truth = answers.requests_by_year_level(analyst_lake.truth)
    assert {(y, lv): n for y, lv, n in data.requests.iter_rows()} == {k: v[1] for k, v in truth.items()}
    shares = data.outcomes.group_by("year").agg(pl.col("share").sum())
    assert all(abs(s - 1) < 1e-9 for s in shares.get_column("share"))


@pytest.mark.slow
def test_post_run_wrote_the_pages_and_the_artifact(analyst_lake, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.postrun import ARTIFACT_KEY

    post, run = analyst_lake.post, analyst_lake.run
    dest = Path(analyst_lake.dest)
    page = (dest / post["report_key"]).read_text(encoding="utf-8")
    assert post["report_key"] == f"_reports/{run['run_id']}.html"
    assert (dest / post["latest_key"]).read_text(encoding="utf-8") == page
    assert f"run {run['run_id']}" in page and f"{run['parsed']:,}" in page
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])))
    mine = [a for a in artifacts if str(a.id) == post["artifact_id"]]
    assert len(mine) == 1 and mine[0].type == "markdown"
    body = mine[0].data
    assert "## Findings by rule" in body and "carried_over_mismatch" in body and run["run_id"] in body


@pytest.mark.slow
def test_chromium_renders_the_report(analyst_lake, tmp_path):
    from PIL import Image

    page = Path(analyst_lake.dest) / analyst_lake.post["latest_key"]
    shot = tmp_path / "report.png"
    done = run_chromium(page, tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == WINDOW
        rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    assert colours is not None and len(colours) > 64  # text, tables and two charts, not a blank page
    white = max(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 0.97 * WINDOW[0] * WINDOW[1]
    # the DOM Chromium built holds the report's tables and both charts
    dom = run_chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "govreports data quality" in dom.stdout and dom.stdout.count("<svg") == 2
    assert "Coverage by year and level" in dom.stdout and "Findings by rule" in dom.stdout


def test_post_run_steps_skip_the_cross_year_step_while_another_run_writes(tmp_path):
    from flows.postrun import post_run_steps

    store = _hostile_lake(tmp_path)
    store.delete([k for k in store.list_objects("cross_year_findings/").get_column("key").to_list()])
    with lake.acquire_lease(store, owner="another-run", ttl_s=60):
        busy = post_run_steps(store.url, "run-2", {"run_id": "run-2", "status": "completed"})
    assert busy["cross_year"] == {"skipped": "another run holds the writer lease"}
    assert lake.list_partitions(store, CROSS_YEAR_FINDINGS) == []  # nothing written without the lease
    assert "skipped" in busy["markdown"] and store.get_bytes(busy["report_key"])
    done = post_run_steps(store.url, "run-3")
    assert done["cross_year"]["findings"] == 7 and lake.list_partitions(store, CROSS_YEAR_FINDINGS)
    assert store.read_versioned(lake.LEASE_KEY) is None  # released
