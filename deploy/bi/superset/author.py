"""Make the three dashboards in a running Superset through its REST API, then export them as YAML into
deploy/bi/superset/dashboards/ (what `make bi` and tests/test_superset.py import). Run it to change a dashboard:

    .venv/bin/python -m tasks.report.superset --no-serve ...   # or any Superset with the govreports DuckDB file
    .venv/bin/python deploy/bi/superset/author.py --url http://127.0.0.1:8088 --password … --database /abs/govreports.duckdb

Charts get fixed uuids (uuid5 of their name), and every chart in a layout carries its uuid, so importing the YAML
into a Superset that has them updates them instead of adding copies. Labels are Chinese where the data is (province,
organ, outcome, level names), with the English in the title. Each chart's saved query context is the aggregate it
draws (no post-processing), which tests/test_superset.py reads through the chart-data API and checks against DuckDB.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
NS = uuid.UUID("6f1c2a4e-2d1b-4c39-9a57-9d0b1f7c0e19")  # govreports dashboards


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}:{name}"))


# Chinese column names for the datasets (verbose names: table headers, filter labels).
VERBOSE = {
    "year": "年度", "admin_level": "层级代码", "level_label": "层级", "province": "省份", "prefecture": "地市",
    "organ": "机关", "organ_kind": "机关类别", "division_code": "区划代码", "source": "来源对象", "url": "网址",
    "row_key": "行代码", "row_group": "行组", "category": "结果代码", "category_label": "办理结果", "reason": "理由代码",
    "label": "表格项目", "requests": "申请数", "group": "类别代码", "group_label": "类别", "upheld": "结果维持",
    "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结", "total": "总计", "corrected_share": "纠错率",
    "timeliness": "时效代码", "timeliness_label": "时效", "published_date": "发布日期", "deadline": "截止日期",
    "days_late": "逾期天数", "name": "区划名称", "government": "政府", "expected": "应发布", "published": "已发布",
    "on_time": "按时", "coverage": "覆盖率", "reports": "报告数", "complete": "完整", "consistent": "一致",
    "complete_share": "完整率", "consistent_share": "一致率", "late_share": "逾期率", "late": "逾期", "undated": "未注明日期",
    "scope": "范围代码", "scope_label": "范围", "rule": "规则", "severity": "严重程度", "field": "字段",
    "expected_value": "应为", "actual": "实际", "message": "说明", "parse_status": "解析状态",
}
VERBOSE_BY_DATASET = {"finding_details": {"expected": "应为", "actual": "实际"}}
PERCENT = {"覆盖率", "纠错率", "完整率", "一致率", "逾期率"}  # metric labels shown as percentages
DATASETS = ("request_outcomes", "review_outcomes", "coverage_by_province", "report_timeliness",
            "indicators_by_province", "finding_details")


def metric(sql: str, label: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label, "optionName": "metric_" + _uuid("m", label)[:8],
            "hasCustomLabel": True}


def where(col: str, op: str, val: Any) -> dict[str, Any]:
    return {"expressionType": "SIMPLE", "subject": col, "operator": op, "comparator": val, "clause": "WHERE",
            "filterOptionName": "filter_" + _uuid("f", f"{col}{op}{val}")[:8]}


REQUESTS = metric("SUM(requests)", "申请数")
REPORTS = metric("COUNT(*)", "报告数")
COVERAGE = metric("CAST(SUM(published) AS DOUBLE) / SUM(expected)", "覆盖率")
CORRECTED = metric('CAST(SUM(corrected) AS DOUBLE) / NULLIF(SUM(upheld) + SUM(corrected) + SUM("other"), 0)', "纠错率")

# name, dataset, viz, form-data pieces; the query: columns (group by), metrics, filters, order, or raw columns.
CHARTS: dict[str, list[dict[str, Any]]] = {
    "requests": [
        {"name": "各年度新收申请(按层级) New requests by year and level", "dataset": "request_outcomes",
         "viz": "echarts_timeseries_bar", "x": "year", "groupby": ["level_label"], "metrics": [REQUESTS],
         "filters": [where("row_key", "==", "new_received"), where("year", ">", 0)], "width": 6},
        {"name": "办理结果构成 Outcomes", "dataset": "request_outcomes", "viz": "pie", "groupby": ["category_label"],
         "metrics": [REQUESTS], "filters": [where("row_group", "==", "outcome")], "width": 6},
        {"name": "各省新收申请 New requests by province", "dataset": "request_outcomes", "viz": "table",
         "groupby": ["province"], "metrics": [REQUESTS, metric("COUNT(DISTINCT report_id)", "报告数")],
         "filters": [where("row_key", "==", "new_received"), where("province", "IS NOT NULL", None)], "width": 4},
        {"name": "不予公开理由 Denial reasons", "dataset": "request_outcomes", "viz": "echarts_timeseries_bar",
         "x": "label", "groupby": [], "metrics": [REQUESTS], "filters": [where("category", "==", "denied")], "width": 8},
        {"name": "行政复议与诉讼结果(纠错率) Review and suit outcomes", "dataset": "review_outcomes", "viz": "table",
         "groupby": ["group_label"], "metrics": [metric("SUM(upheld)", "结果维持"), metric("SUM(corrected)", "结果纠正"),
                                                 metric('SUM("other")', "其他结果"), metric("SUM(pending)", "尚未审结"),
                                                 metric("SUM(total)", "总计"), CORRECTED], "filters": [], "width": 12},
    ],
    "indicators": [
        {"name": "各省政府年报覆盖率 Coverage of governments by province and year", "dataset": "coverage_by_province",
         "viz": "pivot_table_v2", "rows": ["province"], "cols": ["year"], "metrics": [COVERAGE], "filters": [],
         "width": 7, "height": 90},
        {"name": "各年度按时与逾期 Timeliness by year", "dataset": "report_timeliness", "viz": "echarts_timeseries_bar",
         "x": "year", "groupby": ["timeliness_label"], "metrics": [REPORTS], "filters": [], "width": 5},
        {"name": "各层级覆盖率 Coverage by level and year", "dataset": "coverage_by_province", "viz": "table",
         "groupby": ["year", "level_label"], "metrics": [metric("SUM(expected)", "应发布"), metric("SUM(published)", "已发布"),
                                                       metric("SUM(on_time)", "按时发布"), COVERAGE],
         "filters": [], "width": 5},
        {"name": "完整率与一致率 Completeness and rule consistency", "dataset": "indicators_by_province", "viz": "table",
         "groupby": ["year", "level_label"], "metrics": [
             metric("SUM(reports)", "报告数"), metric("CAST(SUM(complete) AS DOUBLE) / SUM(reports)", "完整率"),
             metric("CAST(SUM(consistent) AS DOUBLE) / SUM(reports)", "一致率"),
             metric("CAST(SUM(late) AS DOUBLE) / NULLIF(SUM(on_time) + SUM(late), 0)", "逾期率")],
         "filters": [], "width": 7},
        {"name": "逾期最久的报告 Reports most days late", "dataset": "report_timeliness", "viz": "table", "raw": [
            "organ", "province", "year", "published_date", "deadline", "days_late", "source"],
         "order": [("days_late", False), ("source", True)], "filters": [where("timeliness", "==", "late")], "limit": 50,
         "width": 12},
    ],
    "quality": [
        {"name": "各规则发现数 Findings by rule", "dataset": "finding_details", "viz": "echarts_timeseries_bar",
         "x": "rule", "groupby": ["scope_label"], "metrics": [metric("COUNT(*)", "发现数")], "filters": [], "width": 12},
        {"name": "有错误的机关 Organs with errors", "dataset": "finding_details", "viz": "table",
         "groupby": ["organ", "province", "division_code"],
         "metrics": [metric("COUNT(*)", "错误数"), metric("COUNT(DISTINCT report_id)", "报告数")],
         "filters": [where("severity", "==", "error")], "width": 12, "limit": 100},
        {"name": "跨年度不一致 Cross-year mismatches", "dataset": "finding_details", "viz": "table", "raw": [
            "organ", "year", "rule", "field", "expected", "actual", "source"],
         "order": [("source", True), ("field", True)], "filters": [where("scope", "==", "cross_year")], "limit": 200,
         "width": 12},
    ],
}
DASHBOARDS = {
    "requests": ("申请与办理结果 Requests and outcomes", "govreports-requests"),
    "indicators": ("透明度指标 Transparency indicators", "govreports-indicators"),
    "quality": ("数据质量 Data quality", "govreports-quality"),
}
NATIVE_FILTERS = {"requests": [("year", "年度"), ("level_label", "层级"), ("province", "省份")],
                  "indicators": [("year", "年度"), ("level_label", "层级")]}


def _query_filter(f: dict[str, Any]) -> dict[str, Any]:
    out = {"col": f["subject"], "op": f["operator"]}
    if f["comparator"] is not None:
        out["val"] = f["comparator"]
    return out


def form_data(c: dict[str, Any], dataset_id: int) -> dict[str, Any]:
    fd: dict[str, Any] = {"viz_type": c["viz"], "datasource": f"{dataset_id}__table", "adhoc_filters": c["filters"],
                          "row_limit": c.get("limit", 10000)}
    if c["viz"] == "echarts_timeseries_bar":
        fd |= {"x_axis": c["x"], "metrics": c["metrics"], "groupby": c["groupby"], "xAxisForceCategorical": True,
               "x_axis_sort_asc": True, "stack": "Stack" if c["groupby"] else None, "show_legend": True,
               "orientation": "vertical", "rich_tooltip": True, "truncateXAxis": True, "y_axis_format": "SMART_NUMBER",
               "xAxisLabelRotation": 45 if c["x"] in ("label", "rule") else 0}
    elif c["viz"] == "pie":
        fd |= {"groupby": c["groupby"], "metric": c["metrics"][0], "show_labels": True, "label_type": "key_percent",
               "sort_by_metric": True, "show_legend": True, "number_format": "SMART_NUMBER"}
    elif c["viz"] == "pivot_table_v2":
        fd |= {"groupbyRows": c["rows"], "groupbyColumns": c["cols"], "metrics": c["metrics"],
               "aggregateFunction": "Sum", "valueFormat": ".0%", "rowTotals": False, "colTotals": False,
               "metricsLayout": "COLUMNS", "rowOrder": "key_a_to_z", "colOrder": "key_a_to_z"}
    elif "raw" in c:
        fd |= {"query_mode": "raw", "all_columns": c["raw"], "order_by_cols": [json.dumps([col, asc]) for col, asc in c["order"]],
               "table_timestamp_format": "%Y-%m-%d", "show_cell_bars": False}
    else:
        fd |= {"query_mode": "aggregate", "groupby": c["groupby"], "metrics": c["metrics"], "order_desc": True,
               "timeseries_limit_metric": c["metrics"][0], "show_cell_bars": False,
               "column_config": {m["label"]: {"d3NumberFormat": ".1%"} for m in c["metrics"] if m["label"] in PERCENT}}
    return fd


def query_context(c: dict[str, Any], dataset_id: int, fd: dict[str, Any]) -> dict[str, Any]:
    q: dict[str, Any] = {"filters": [_query_filter(f) for f in c["filters"]], "extras": {"having": "", "where": ""},
                         "row_limit": c.get("limit", 10000), "applied_time_extras": {}}
    if "raw" in c:
        q |= {"columns": c["raw"], "metrics": [], "orderby": [[col, asc] for col, asc in c["order"]]}
    elif c["viz"] == "pivot_table_v2":
        q |= {"columns": c["rows"] + c["cols"], "metrics": c["metrics"], "orderby": [[c["metrics"][0], False]]}
    elif c["viz"] == "echarts_timeseries_bar":
        q |= {"columns": [c["x"], *c["groupby"]], "metrics": c["metrics"], "orderby": [[c["metrics"][0], False]]}
    else:
        q |= {"columns": c["groupby"], "metrics": c["metrics"], "orderby": [[c["metrics"][0], False]]}
    return {"datasource": {"id": dataset_id, "type": "table"}, "force": False, "queries": [q], "form_data": fd,
            "result_format": "json", "result_type": "full"}


class Client:
    def __init__(self, url: str, pw: str, user: str = "admin") -> None:
        self.http = httpx.Client(base_url=url, timeout=120)
        login = dict(username=user, password=pw, provider="db", refresh=False)
        jwt = self.http.post("/api/v1/security/login", json=login).json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {jwt}"
        csrf = self.http.get("/api/v1/security/csrf_token/").json()["result"]
        self.http.headers.update({"X-CSRFToken": csrf, "Referer": url})

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:2000]}")
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r.content


def _position(title: str, charts: list[tuple[int, str, str, dict[str, Any]]]) -> dict[str, Any]:
    pos: dict[str, Any] = {"DASHBOARD_VERSION_KEY": "v2", "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                           "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": title}},
                           "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]}}
    row, used = None, 12
    for n, (chart_id, name, chart_uuid, spec) in enumerate(charts):
        width = spec.get("width", 6)
        if row is None or used + width > 12:
            row = f"ROW-{n}"
            pos[row] = {"type": "ROW", "id": row, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                        "meta": {"background": "BACKGROUND_TRANSPARENT"}}
            pos["GRID_ID"]["children"].append(row)
            used = 0
        key = f"CHART-{chart_uuid[:8]}"
        pos[key] = {"type": "CHART", "id": key, "children": [], "parents": ["ROOT_ID", "GRID_ID", row],
                    "meta": {"width": width, "height": spec.get("height", 60), "chartId": chart_id,
                             "sliceName": name, "uuid": chart_uuid}}
        pos[row]["children"].append(key)
        used += width
    return pos


def _native_filters(key: str, dataset_id: int, chart_ids: list[int]) -> list[dict[str, Any]]:
    out = []
    for column, label in NATIVE_FILTERS.get(key, []):
        out.append({"id": f"NATIVE_FILTER-{key}-{column}".replace("_", "-"), "name": label, "filterType": "filter_select",
                    "type": "NATIVE_FILTER", "targets": [{"datasetId": dataset_id, "column": {"name": column}}],
                    "controlValues": {"enableEmptyFilter": False, "defaultToFirstItem": False, "multiSelect": True,
                                      "searchAllOptions": False, "inverseSelection": False},
                    "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                    "cascadeParentIds": [], "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                    "chartsInScope": chart_ids, "tabsInScope": [], "description": ""})
    return out


def author(url: str, password: str, database: str) -> dict[str, int]:
    api = Client(url, password)
    extra = json.dumps({"engine_params": {"connect_args": {"read_only": True}}, "allows_virtual_table_explore": True})
    db = api.call("POST", "/api/v1/database/", json={"database_name": "govreports", "sqlalchemy_uri": f"duckdb:///{database}",
                                                     "expose_in_sqllab": True, "extra": extra})["id"]
    datasets = {}
    for name in DATASETS:
        ds = api.call("POST", "/api/v1/dataset/", json={"database": db, "schema": "main", "table_name": name})["id"]
        cols = api.call("GET", f"/api/v1/dataset/{ds}")["result"]["columns"]
        keep = ("id", "column_name", "type", "verbose_name", "description", "expression", "filterable", "groupby",
                "is_active", "is_dttm", "python_date_format")
        names = VERBOSE | VERBOSE_BY_DATASET.get(name, {})
        cols = [{k: c[k] for k in keep if k in c} | {"verbose_name": names.get(c["column_name"]),
                                                     "is_dttm": False} for c in cols]
        api.call("PUT", f"/api/v1/dataset/{ds}", json={"columns": cols, "description": f"govreports view {name}"})
        datasets[name] = ds
    made = {}
    for key, (title, slug) in DASHBOARDS.items():
        dash = api.call("POST", "/api/v1/dashboard/", json={"dashboard_title": title, "slug": slug, "published": True})["id"]
        charts = []
        for spec in CHARTS[key]:
            ds = datasets[spec["dataset"]]
            fd = form_data(spec, ds)
            chart_uuid = _uuid("chart", spec["name"])
            cid = api.call("POST", "/api/v1/chart/", json={
                "slice_name": spec["name"], "viz_type": spec["viz"], "datasource_id": ds, "datasource_type": "table",
                "params": json.dumps(fd, ensure_ascii=False), "dashboards": [dash], "uuid": chart_uuid,
                "query_context": json.dumps(query_context(spec, ds, fd), ensure_ascii=False)})["id"]
            charts.append((cid, spec["name"], chart_uuid, spec))
        first = datasets[CHARTS[key][0]["dataset"]]
        meta = {"native_filter_configuration": _native_filters(key, first, [c[0] for c in charts]),
                "color_scheme": "supersetColors", "refresh_frequency": 0, "cross_filters_enabled": False}
        api.call("PUT", f"/api/v1/dashboard/{dash}", json={
            "position_json": json.dumps(_position(title, charts), ensure_ascii=False),
            "json_metadata": json.dumps(meta, ensure_ascii=False)})
        made[key] = dash
    return made


def export(url: str, password: str, ids: list[int], out: Path = OUT) -> None:
    api = Client(url, password)
    data = api.call("GET", "/api/v1/dashboard/export/", params={"q": f"!({','.join(map(str, ids))})"})
    if out.exists():
        shutil.rmtree(out)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            rel = name.split("/", 1)[1]
            if not rel.endswith(".yaml"):
                continue
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            text = zf.read(name).decode("utf-8")
            target.write_text(readable(rel, text), encoding="utf-8")


def readable(rel: str, text: str) -> str:
    """The exported YAML with Chinese as Chinese (not \\u escapes), the query context as indented JSON, and no
    path of the authoring machine (tasks/report/superset.py sets the database URI at import)."""
    import yaml

    doc = yaml.safe_load(text)
    if rel.startswith("databases/"):
        doc["sqlalchemy_uri"] = "duckdb:///govreports.duckdb"
    if rel.startswith("charts/") and doc.get("query_context"):
        doc["query_context"] = json.dumps(json.loads(doc["query_context"]), ensure_ascii=False, indent=1)
    class Dumper(yaml.SafeDumper):
        pass

    def text_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:  # multi-line strings as | blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text_block)
    return yaml.dump(doc, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--database", required=True, help="absolute path of the govreports DuckDB file")
    args = parser.parse_args()
    made = author(args.url, args.password, args.database)
    export(args.url, args.password, list(made.values()))
    print(f"exported {len(made)} dashboards into {OUT}")


if __name__ == "__main__":
    main()
