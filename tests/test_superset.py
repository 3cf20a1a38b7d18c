"""Superset over the lake, as `make bi` sets it up: the BI environment built from its lock, the DuckDB file of views
over the analyst lake, the dashboards' YAML imported into a fresh Superset, every chart's data through the
chart-data API equal to the same question asked of DuckDB directly, and every dashboard rendered in headless
Chromium (CJK fonts from `make fonts`): not blank, every chart drawn, no missing-glyph boxes.

Screenshots are written to data/screenshots/superset/<dashboard slug>.png (SCREENSHOTS below). The module skips,
saying why, only when the BI environment cannot be built (tasks.report.superset.BIEnvError: no registry, no uv)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml

from tasks.report import superset
from tests import glyphs
from tests.cdp import Browser, chromium_path, open_page

SCREENSHOTS = superset.REPO / "data" / "screenshots" / "superset"
SIZE = (1600, 1800)

# Every chart's question, asked of DuckDB directly: the columns in the chart's order (group-bys, then metrics).
# `ordered`: the chart shows a limited, ordered list, so the order is part of the answer.
CHART_SQL: dict[str, tuple[str, bool]] = {
    "各年度新收申请(按层级) New requests by year and level": (
        "SELECT year, level_label, sum(requests) FROM request_outcomes WHERE row_key = 'new_received' AND year > 0 "
        "GROUP BY ALL", False),
    "办理结果构成 Outcomes": (
        "SELECT category_label, sum(requests) FROM request_outcomes WHERE row_group = 'outcome' GROUP BY ALL", False),
    "各省新收申请 New requests by province": (
        "SELECT province, sum(requests), count(DISTINCT report_id) FROM request_outcomes "
        "WHERE row_key = 'new_received' AND province IS NOT NULL GROUP BY ALL", False),
    "不予公开理由 Denial reasons": (
        "SELECT label, sum(requests) FROM request_outcomes WHERE category = 'denied' GROUP BY ALL", False),
    "行政复议与诉讼结果(纠错率) Review and suit outcomes": (
        'SELECT group_label, sum(upheld), sum(corrected), sum("other"), sum(pending), sum(total), '
        'sum(corrected) / nullif(sum(upheld) + sum(corrected) + sum("other"), 0) FROM review_outcomes GROUP BY ALL',
        False),
    "各省政府年报覆盖率 Coverage of governments by province and year": (
        "SELECT province, year, sum(published) / sum(expected) FROM coverage_by_province GROUP BY ALL", False),
    "各年度按时与逾期 Timeliness by year": (
        "SELECT year, timeliness_label, count(*) FROM report_timeliness GROUP BY ALL", False),
    "各层级覆盖率 Coverage by level and year": (
        "SELECT year, level_label, sum(expected), sum(published), sum(on_time), sum(published) / sum(expected) "
        "FROM coverage_by_province GROUP BY ALL", False),
    "完整率与一致率 Completeness and rule consistency": (
        "SELECT year, level_label, sum(reports), sum(complete) / sum(reports), sum(consistent) / sum(reports), "
        "sum(late) / nullif(sum(on_time) + sum(late), 0) FROM indicators_by_province GROUP BY ALL", False),
    "逾期最久的报告 Reports most days late": (
        "SELECT organ, province, year, published_date, deadline, days_late, source FROM report_timeliness "
        "WHERE timeliness = 'late' ORDER BY days_late DESC, source LIMIT 50", True),
    "各规则发现数 Findings by rule": (
        "SELECT rule, scope_label, count(*) FROM finding_details GROUP BY ALL", False),
    "有错误的机关 Organs with errors": (
        "SELECT organ, province, division_code, count(*), count(DISTINCT report_id) FROM finding_details "
        "WHERE severity = 'error' GROUP BY ALL", False),
    "跨年度不一致 Cross-year mismatches": (
        "SELECT organ, year, rule, field, expected, actual, source FROM finding_details WHERE scope = 'cross_year' "
        "ORDER BY source, field LIMIT 200", True),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _yaml(kind: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((superset.DASHBOARDS_DIR / kind).rglob("*.yaml"))]


@pytest.fixture(scope="module")
def bi_env():
    try:
        return superset.ensure_env()
    except superset.BIEnvError as exc:  # the only reason to skip: say so
        pytest.skip(f"the BI environment could not be built: {exc}")


@pytest.fixture(scope="module")
def bi(bi_env, analyst_lake, tmp_path_factory):
    """A fresh Superset home with the YAML imported, served on a free loopback port; stopped at the end."""
    work = tmp_path_factory.mktemp("bi")
    database = superset.build_database(analyst_lake.dest, work / "govreports.duckdb")
    home = superset.init_home(bi_env, work / "home", database)  # set-up and import, as make bi does
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = superset.serve(bi_env, home, port, log_file=work / "superset.log")
    try:
        superset.wait_healthy(url, proc)
        yield {"url": url, "home": home, "database": database, "bin": bi_env, "work": work}
    finally:
        superset.stop(proc)


def _api(bi) -> httpx.Client:
    client = httpx.Client(base_url=bi["url"], timeout=120)
    token = client.post("/api/v1/security/login", json={"username": superset.ADMIN, "password": bi["home"].password,
                                                        "provider": "db"}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _charts(api: httpx.Client) -> list[dict[str, Any]]:
    return api.get("/api/v1/chart/", params={"q": "(columns:!(id,slice_name,uuid,viz_type),page_size:100)"}).json()["result"]


def test_every_chart_in_the_yaml_has_its_question_and_its_uuid_in_the_layout():
    charts = _yaml("charts")
    assert {c["slice_name"] for c in charts} == set(CHART_SQL)
    by_uuid = {c["uuid"]: c for c in charts}
    dashboards = _yaml("dashboards")
    assert len(dashboards) == 3
    placed = []
    for d in dashboards:
        for item in d["position"].values():
            if isinstance(item, dict) and item.get("type") == "CHART":
                assert item["meta"]["uuid"] in by_uuid, item  # else the import duplicates the chart
                placed.append(item["meta"]["uuid"])
    assert sorted(placed) == sorted(by_uuid)  # every chart on one dashboard, once
    database = _yaml("databases")
    assert database[0]["extra"]["engine_params"]["connect_args"] == {"read_only": True}


def test_the_dashboards_zip_points_at_the_database_file(tmp_path):
    import zipfile

    bundle = superset.dashboards_zip(tmp_path / "x.duckdb", tmp_path / "d.zip")
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        db = yaml.safe_load(zf.read(next(n for n in names if "/databases/" in n)))
    assert db["sqlalchemy_uri"] == f"duckdb:///{tmp_path / 'x.duckdb'}"
    assert any(n.endswith("metadata.yaml") for n in names)


@pytest.mark.slow
def test_the_import_gives_three_dashboards_and_no_duplicate_chart(bi):
    api = _api(bi)
    slugs = {d["slug"] for d in api.get("/api/v1/dashboard/", params={"q": "(columns:!(slug))"}).json()["result"]}
    assert slugs == {"govreports-requests", "govreports-indicators", "govreports-quality"}
    assert sorted(c["slice_name"] for c in _charts(api)) == sorted(CHART_SQL)
    superset.import_dashboards(bi["bin"], bi["home"], bi["database"])  # again: charts updated by uuid, not added
    assert len(_charts(api)) == len(CHART_SQL)


def _norm(value: Any) -> Any:
    if isinstance(value, dt.date):  # the chart-data API gives dates as epoch milliseconds
        return float(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif u != v:
                return False
    return True


@pytest.mark.slow
def test_chart_data_equals_duckdb(bi):
    api = _api(bi)
    con = duckdb.connect(str(bi["database"]), read_only=True)
    try:
        for chart in _charts(api):
            sql, ordered = CHART_SQL[chart["slice_name"]]
            response = api.get(f"/api/v1/chart/{chart['id']}/data/")
            assert response.status_code == 200, (chart["slice_name"], response.text[:500])
            result = response.json()["result"][0]
            got = [tuple(_norm(row[c]) for c in result["colnames"]) for row in result["data"]]
            want = [tuple(_norm(v) for v in row) for row in con.sql(sql).fetchall()]
            assert want, f"{chart['slice_name']}: DuckDB has no rows, the check would be empty"
            if not ordered:
                got, want = sorted(got, key=repr), sorted(want, key=repr)
            assert _same(got, want), (chart["slice_name"], got[:5], want[:5])
    finally:
        con.close()


def _session_cookie(bi) -> str:
    client = httpx.Client(base_url=bi["url"], timeout=60)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login/").text).group(1)
    client.post("/login/", data={"username": superset.ADMIN, "password": bi["home"].password, "csrf_token": token})
    return client.cookies["session"]


_STATE = """(() => ({
  holders: document.querySelectorAll('.dashboard-component-chart-holder').length,
  loading: document.querySelectorAll('.loading, [data-test="loading-indicator"]').length,
  drawn: Array.from(document.querySelectorAll('.dashboard-component-chart-holder'))
    .filter(h => h.querySelector('canvas, table, svg')).length,
  errors: Array.from(document.querySelectorAll('[data-test="error-message"], .alert-danger, .ant-alert-error'))
    .map(e => e.innerText.slice(0, 300)),
  text: document.body ? document.body.innerText : '',
}))()"""


async def _render(bi, cookie: str, slug: str, n_charts: int, shot: Path, labels: str) -> dict[str, Any]:
    """Open the dashboard, wait until every chart is drawn, screenshot it, and check its glyphs: the DOM's, and
    on a canvas in the page's fonts the Chinese of the page and of the charts' labels (what ECharts draws)."""
    browser = Browser(bi["work"] / f"chromium-{slug}", SIZE)
    try:
        ws, page = await open_page(browser)
        await page.call("Emulation.setDeviceMetricsOverride", width=SIZE[0], height=SIZE[1], deviceScaleFactor=1,
                        mobile=False)
        await page.call("Network.enable")
        await page.call("Network.setCookie", name="session", value=cookie, domain="127.0.0.1", path="/")
        await page.call("Page.navigate", url=f"{bi['url']}/superset/dashboard/{slug}/?standalone=1")
        deadline = time.monotonic() + 120
        while True:
            state = await page.evaluate(_STATE)
            if state["holders"] == n_charts and not state["loading"] and state["drawn"] == n_charts:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{slug}: charts not drawn in 120 s: {({k: v for k, v in state.items() if k != 'text'})}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # ECharts animates its series in
        state = await page.evaluate(_STATE)
        await page.screenshot(shot)
        state["dom_missing"] = await glyphs.dom_missing_glyphs(page)
        state["canvas_missing"] = await glyphs.canvas_missing_glyphs(page, labels + state["text"])
        await ws.close()
        return state
    finally:
        browser.close()


@pytest.mark.slow
def test_dashboards_render_in_chromium(bi):
    from PIL import Image

    if chromium_path() is None:
        pytest.fail("Chromium is needed to render the dashboards: `make browser` (make test runs it)")
    api = _api(bi)
    cookie = _session_cookie(bi)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    charts_by_dash = {d["slug"]: sum(1 for item in d["position"].values()
                                     if isinstance(item, dict) and item.get("type") == "CHART") for d in _yaml("dashboards")}
    # the Chinese the canvas charts draw: their category and series labels, from their data
    labels = []
    for chart in _charts(api):
        for row in api.get(f"/api/v1/chart/{chart['id']}/data/").json()["result"][0]["data"]:
            labels += [v for v in row.values() if isinstance(v, str)]
        labels.append(chart["slice_name"])
    for slug, n in sorted(charts_by_dash.items()):
        shot = SCREENSHOTS / f"{slug}.png"
        state = asyncio.run(_render(bi, cookie, slug, n, shot, "".join(labels)))
        assert not state["errors"], (slug, state["errors"])
        assert not state["dom_missing"], (slug, state["dom_missing"][:5])
        assert not state["canvas_missing"], (slug, state["canvas_missing"][:20])
        assert glyphs.CJK.search(state["text"]), f"{slug}: no Chinese on the page"
        with Image.open(shot) as image:
            assert image.size == SIZE
            rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=SIZE[0] * SIZE[1])
        assert colours is not None and len(colours) > 200, f"{slug}: {len(colours or [])} colours: blank?"
        background = max(count for count, _ in colours)
        assert background < 0.85 * SIZE[0] * SIZE[1], f"{slug}: one colour covers {background / (SIZE[0] * SIZE[1]):.0%}"


def test_the_glyph_checks_find_boxes_without_chinese_fonts(tmp_path):
    """Without a CJK font (fontconfig limited to DejaVu) both checks report the Chinese as missing; with the
    machine's fonts (make fonts) neither does. So the dashboard test can fail on boxes."""
    if chromium_path() is None:
        pytest.fail("Chromium is needed: `make browser` (make test runs it)")
    page_file = tmp_path / "zh.html"
    page_file.write_text("<html><body style='font-family: sans-serif'><p>各省政府年报覆盖率</p><table><tr><td>宁夏回族自治区"
                         "</td></tr></table></body></html>", encoding="utf-8")
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?><!DOCTYPE fontconfig SYSTEM 'fonts.dtd'><fontconfig><dir>/usr/share/fonts/"
                    f"truetype/dejavu</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>")

    async def check(env: dict[str, str] | None, profile: str) -> tuple[list[str], list[str]]:
        browser = Browser(tmp_path / profile, (800, 600), env=env)
        try:
            ws, page = await open_page(browser)
            await page.call("Page.navigate", url=page_file.as_uri())
            await page.wait_for("document.readyState === 'complete'")
            result = (await glyphs.dom_missing_glyphs(page), await glyphs.canvas_missing_glyphs(page, "各省政府年报覆盖率"))
            await ws.close()
            return result
        finally:
            browser.close()

    dom, canvas = asyncio.run(check({"FONTCONFIG_FILE": str(conf)}, "no-cjk"))
    assert len(dom) == 2 and len(canvas) == 2 * len("各省政府年报覆盖率")
    assert asyncio.run(check(None, "cjk")) == ([], [])
    assert subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip()


_S3_PROBE = """
import json, sys
import sqlalchemy as sa
from sqlalchemy.engine.url import make_url
import superset_config as cfg

uri, params = cfg.DB_CONNECTION_MUTATOR(make_url(sys.argv[1]), {}, "admin", None, None)
engine = sa.create_engine(uri, **params)
with engine.connect() as con:
    rows = con.execute(sa.text(sys.argv[2])).fetchall()
print(json.dumps([list(r) for r in rows], default=str))
"""


@pytest.mark.slow
def test_superset_reads_an_s3_lake_through_its_config(bi_env, analyst_lake, weed, tmp_path):
    """A lake on S3 (SeaweedFS): the DuckDB file's views read s3:// paths, and superset_config.py's connection
    mutator gives each connection Superset opens the s3fs filesystem from the pipeline's variables (httpfs cannot
    be downloaded here) and read-only access. Run in the BI venv (SQLAlchemy 1.4, duckdb-engine), as Superset does."""
    import json
    import os

    from tasks.report import bi
    from tasks.storage import Store
    from tests.servers import server_env, store_for

    s3 = store_for(weed, "superset-lake")
    local = Path(analyst_lake.dest)
    for path in sorted(local.rglob("*.parquet")):
        rel = path.relative_to(local).as_posix()
        if not rel.startswith(("_", ".")):
            s3.put_bytes(rel, path.read_bytes())
    database = superset.build_database(s3, tmp_path / "s3.duckdb")
    question = ("SELECT year, sum(published), sum(expected) FROM coverage_by_province GROUP BY year ORDER BY year")
    env = {**os.environ, **server_env(weed), "GOVREPORTS_LAKE": s3.uri(), "SUPERSET_SECRET_KEY": "test-only",
           "PYTHONPATH": str(superset.SUPERSET_DIR)}
    done = subprocess.run([str(bi_env / "python"), "-c", _S3_PROBE, f"duckdb:///{database}", question],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = bi.connect(Store(str(local))).sql(question).fetchall()
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [list(r) for r in expected] and expected
    # read-only: the same connection refuses to write into the file
    done = subprocess.run([str(bi_env / "python"), "-c", _S3_PROBE, f"duckdb:///{database}",
                           "CREATE TABLE x AS SELECT 1"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0 and "read-only" in done.stderr.lower()
