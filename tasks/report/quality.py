"""The data-quality report: coverage, parsed vs failed, findings by rule with examples, charts — Markdown and HTML."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from schemas import form
from schemas.tables import CROSS_YEAR_FINDINGS
from tasks.report.bi import outcome_category

REPORTS_PREFIX = "_reports"  # outside every table folder: readers globbing tables never see it
LATEST = "latest"
EXAMPLES_PER_RULE = 3
FAILURE_EXAMPLES = 5
MESSAGE_CHARS = 300
COVERAGE_TITLE = "Coverage by year and level"  # the charts follow this section
# The outcome categories drawn, in the form's order (三 (一)…(六)).
OUTCOMES = ("granted", "partially_granted", "denied", "unavailable", "not_processed", "other")
# One colour per admin level and per outcome (matplotlib's tab10, fixed so the charts read the same every day).
_TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
LEVEL_COLOURS = dict(zip(form.ADMIN_LEVELS, _TAB10, strict=False))
OUTCOME_COLOURS = dict(zip(OUTCOMES, ("#2ca02c", "#98df8a", "#d62728", "#ff7f0e", "#9467bd", "#7f7f7f"), strict=True))
_RUN_FIELDS = ("run_id", "flow", "status", "started_at", "finished_at", "files_seen", "parsed", "failed", "skipped",
               "deleted", "batches", "failed_batches", "findings", "wall_s", "parser_version")


@dataclass
class QualityData:
    """Everything the report shows, as small frames (tests compare them with the lake)."""

    lake: str
    generated_at: datetime
    run_id: str | None
    run: dict[str, Any] | None
    coverage: pl.DataFrame        # year, admin_level, reports
    status: pl.DataFrame          # parse_status, reports
    failures: pl.DataFrame        # stage, objects (the failures table: objects not read or parsed at all)
    failure_examples: pl.DataFrame  # source, stage, error
    findings: pl.DataFrame        # scope, rule, severity, findings, reports
    examples: pl.DataFrame        # scope, rule, source, message
    requests: pl.DataFrame        # year, admin_level, requests (一、本年新收, column 总计)
    outcomes: pl.DataFrame        # year, category, requests, share
    cross_year: dict[str, Any] | None = None
    totals: dict[str, int] = field(default_factory=dict)


# -- collecting --------------------------------------------------------------------------------------------------

def _scan(store: Any, table: Any, *columns: str) -> pl.LazyFrame:
    from tasks import lake
    return lake.scan_table(store, table).select(columns)


def collect_quality(store: Any, run_summary: dict[str, Any] | None = None,
                    cross_year: dict[str, Any] | None = None, run_id: str | None = None) -> QualityData:
    """Read the lake (reports, findings, cross_year_findings, applications, failures) into the report's frames."""
    from tasks import lake
    reports = _scan(store, "reports", "report_id", "year", "admin_level", "parse_status", "duplicate_sources").collect()
    coverage = reports.group_by("year", "admin_level").agg(reports=pl.len().cast(pl.Int64)).sort("year", "admin_level")
    status = (reports.group_by("parse_status").agg(reports=pl.len().cast(pl.Int64))
              .sort("reports", "parse_status", descending=[True, False]))
    failures_all = lake.read_failures(store)
    failures = (failures_all.group_by("stage").agg(objects=pl.col("source").n_unique().cast(pl.Int64))
                .sort("objects", "stage", descending=[True, False]))
    failure_examples = failures_all.sort("recorded_at", "source", descending=[True, False]).unique(
        "source", keep="first", maintain_order=True).head(FAILURE_EXAMPLES).select("source", "stage", "error")

    finding_cols = ("report_id", "source", "rule", "severity", "field", "message")
    both = pl.concat([
        _scan(store, "findings", *finding_cols).collect().with_columns(scope=pl.lit("report")),
        _scan(store, CROSS_YEAR_FINDINGS, *finding_cols).collect().with_columns(scope=pl.lit("cross_year")),
    ])
    findings = (both.group_by("scope", "rule", "severity")
                .agg(findings=pl.len().cast(pl.Int64), reports=pl.col("report_id").n_unique().cast(pl.Int64))
                .sort(["findings", "rule", "scope"], descending=[True, False, False]))
    examples = (both.sort("scope", "rule", "source", "field", "message", nulls_last=True)
                .group_by("scope", "rule", maintain_order=True).head(EXAMPLES_PER_RULE)
                .select("scope", "rule", "source", "message"))

    # aggregated inside the query: table 3's ~2 M outcome rows at 100k reports are never one frame
    apps = (_scan(store, "applications", "year", "admin_level", "format_version", "row_key", "row_group", "total")
            .filter((pl.col("year") > 0) & ((pl.col("row_key") == "new_received") | (pl.col("row_group") == "outcome"))))
    categories = {k: outcome_category(k)[0] for rows in form.APPLICATION_ROWS.values() for k in (r.key for r in rows)}
    requests, outcomes = pl.collect_all([
        apps.filter(pl.col("row_key") == "new_received")
        .group_by("year", "admin_level").agg(requests=pl.col("total").sum().cast(pl.Int64))
        .sort("year", "admin_level"),
        apps.filter(pl.col("row_group") == "outcome")
        .group_by("year", "row_key").agg(requests=pl.col("total").sum())
        .with_columns(category=pl.col("row_key").replace_strict(categories, return_dtype=pl.String))
        .group_by("year", "category").agg(requests=pl.col("requests").sum().cast(pl.Int64)),
    ])
    outcomes = (outcomes.with_columns(share=pl.col("requests") / pl.col("requests").sum().over("year"))
                .with_columns(order=pl.col("category").replace_strict({c: i for i, c in enumerate(OUTCOMES)},
                                                                      return_dtype=pl.Int32))
                .sort("year", "order").drop("order"))

    run = {k: run_summary[k] for k in _RUN_FIELDS if k in run_summary} if run_summary else None
    totals = {
        "reports": reports.height,
        "reports_with_year": reports.filter(pl.col("year") > 0).height,
        "unknown_year": reports.filter(pl.col("year") <= 0).height,
        "duplicate_files": int(reports.get_column("duplicate_sources").list.len().fill_null(0).sum()),
        "failed_objects": failures_all.get_column("source").n_unique(),
        "findings": both.height,
    }
    return QualityData(lake=store.redact(store.url), generated_at=datetime.now(UTC).replace(microsecond=0),
                       run_id=run_id or (run or {}).get("run_id"), run=run, coverage=coverage, status=status,
                       failures=failures, failure_examples=failure_examples, findings=findings, examples=examples,
                       requests=requests, outcomes=outcomes, cross_year=cross_year, totals=totals)


# -- charts ------------------------------------------------------------------------------------------------------

def _svg(fig: Any) -> str:
    """The figure as an inline <svg> element (text drawn as paths: no font needed to view it)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "govreports"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # the object API: no pyplot global state, safe in worker threads

    fig = Figure(figsize=(8.5, 4.2), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#888888")


def chart_requests(requests: pl.DataFrame) -> str:
    """Stacked bars: new requests (一) per report year, by administrative level."""
    fig, ax = _figure("Requests received per report year, by administrative level")
    years = sorted(set(requests.get_column("year").to_list()))
    if not years:
        _no_data(ax)
        return _svg(fig)
    bottom = [0] * len(years)
    for level in form.ADMIN_LEVELS:
        sub = dict(requests.filter(pl.col("admin_level") == level).select("year", "requests").iter_rows())
        if not sub:
            continue
        values = [int(sub.get(y) or 0) for y in years]
        ax.bar([str(y) for y in years], values, bottom=bottom, label=level, color=LEVEL_COLOURS[level])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("requests (new this year)")
    ax.legend(frameon=False, fontsize=9, ncols=6, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return _svg(fig)


def chart_outcomes(outcomes: pl.DataFrame) -> str:
    """100 % stacked bars: how each year's handled requests were answered."""
    fig, ax = _figure("Outcome shares of handled requests per report year")
    years = sorted(set(outcomes.get_column("year").to_list()))
    if not years:
        _no_data(ax)
        return _svg(fig)
    bottom = [0.0] * len(years)
    for category in OUTCOMES:
        sub = dict(outcomes.filter(pl.col("category") == category).select("year", "share").iter_rows())
        values = [float(sub.get(y) or 0.0) * 100 for y in years]
        ax.bar([str(y) for y in years], values, bottom=bottom, label=category.replace("_", " "),
               color=OUTCOME_COLOURS[category])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of handled requests")
    ax.legend(frameon=False, fontsize=9, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return _svg(fig)


# -- rendering ---------------------------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _short(text: Any, limit: int = MESSAGE_CHARS) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def coverage_matrix(coverage: pl.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """Rows: report year (0 = unknown), columns: the levels present in form order, then the total."""
    levels = [lv for lv in form.ADMIN_LEVELS if lv in set(coverage.get_column("admin_level").to_list())]
    levels += sorted(set(coverage.get_column("admin_level").to_list()) - set(levels))
    counts = {(y, lv): n for y, lv, n in coverage.iter_rows()}
    rows = []
    for year in sorted({y for y, _ in counts}):
        values = [counts.get((year, lv), 0) for lv in levels]
        rows.append(["unknown (0)" if year == 0 else str(year), *values, sum(values)])
    if rows:
        rows.append(["all years", *[sum(r[i + 1] for r in rows) for i in range(len(levels))],
                     sum(r[-1] for r in rows)])
    return ["year", *levels, "total"], rows


def _sections(data: QualityData) -> list[tuple[str, str, list[str], list[list[Any]]]]:
    """(title, intro, header, rows) for every table of the report, in order; cells are raw values."""
    out: list[tuple[str, str, list[str], list[list[Any]]]] = []
    if data.run:
        out.append(("Run", "The run this report follows.", ["field", "value"],
                    [[k, v] for k, v in data.run.items()]))
    t = data.totals
    out.append(("Summary", "", ["measure", "value"], [
        ["reports in the lake", t["reports"]], ["reports with a known year", t["reports_with_year"]],
        ["files whose year is unknown (year=0)", t["unknown_year"]],
        ["duplicate files (same bytes as a report)", t["duplicate_files"]],
        ["objects not read or parsed at all (failures)", t["failed_objects"]],
        ["findings (report and cross-year)", t["findings"]],
    ]))
    header, rows = coverage_matrix(data.coverage)
    out.append((COVERAGE_TITLE, "Reports per report year (statistics period) and administrative "
                "level of the issuing organ.", header, rows))
    status_rows: list[list[Any]] = [[s, n] for s, n in data.status.iter_rows()]
    status_rows += [[f"failed: {stage}", n] for stage, n in data.failures.iter_rows()]
    out.append(("Parsed vs failed", "ok = no error findings; flagged = at least one; incomplete = a table missing or "
                "cut; unsupported = not an annual report in a supported format; failed = the object could not be "
                "read or parsed at all (failures table).", ["status", "reports / objects"], status_rows))
    if data.failure_examples.height:
        out.append(("Failure examples", "", ["source", "stage", "error"],
                    [[s, st, _short(e)] for s, st, e in data.failure_examples.iter_rows()]))
    out.append(("Findings by rule", "scope report: the report's own findings; cross_year: against the same organ's "
                "report of the year before.", ["rule", "severity", "scope", "findings", "reports"],
                [[r, sev, sc, n, rep] for sc, r, sev, n, rep in data.findings.iter_rows()]))
    out.append(("Finding examples", f"Up to {EXAMPLES_PER_RULE} per rule.", ["rule", "scope", "source", "message"],
                [[r, sc, s, _short(m)] for sc, r, s, m in data.examples.iter_rows()]))
    if data.cross_year:
        out.append(("Cross-year step", "Consecutive report years of the same organ (division code + name).",
                    ["measure", "value"], _flat(data.cross_year)))
    return out


def _flat(summary: dict[str, Any]) -> list[list[Any]]:
    """A summary dict as rows; a nested dict (by_rule) becomes one row per entry."""
    rows: list[list[Any]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows += [[f"{key}: {k}", v] for k, v in value.items()]
        else:
            rows.append([key, value])
    return rows


def _md_cell(value: Any) -> str:
    """Untrusted text in a Markdown table cell: HTML-escaped; backslash, pipe, backtick, * and [ ] escaped (no
    table breaks, code spans, emphasis or links); one line."""
    text = html.escape(_fmt(value), quote=False)
    return re.sub(r"[\\|`*\[\]]", lambda m: "\\" + m.group(0), re.sub(r"\s+", " ", text))


def render_markdown(data: QualityData) -> str:
    lines = [f"# govreports data quality{' — run ' + _md_cell(data.run_id) if data.run_id else ''}", "",
             f"Lake `{_md_cell(data.lake)}`, generated {data.generated_at.isoformat()}. The HTML report (with charts) "
             f"is at `{REPORTS_PREFIX}/{LATEST}.html` in the lake.", ""]
    for title, intro, header, rows in _sections(data):
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] or ["| " + " | ".join(
            ["—"] * len(header)) + " |"]
        lines.append("")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;
margin:24px auto;max-width:1180px;color:#222;background:#fff;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.meta{color:#666;margin-top:0}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f5f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.msg{max-width:640px;word-break:break-word}
.charts svg{max-width:100%;height:auto;display:block;margin:8px 0}
""".strip()


def _html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            cls = ' class="n"' if isinstance(value, int | float) and not isinstance(value, bool) else \
                (' class="msg"' if isinstance(value, str) and len(value) > 60 else "")
            cells.append(f"<td{cls}>{html.escape(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(header)}">none</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(data: QualityData) -> str:
    """One self-contained page: inline CSS and SVG, no script, nothing fetched (a CSP says so too)."""
    title = "govreports data quality" + (f" — run {data.run_id}" if data.run_id else "")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">Lake {html.escape(data.lake)} · generated {html.escape(data.generated_at.isoformat())}</p>',
    ]
    charts = (f'<h2>Charts</h2><div class="charts">{chart_requests(data.requests)}'
              f"{chart_outcomes(data.outcomes)}</div>")
    for name, intro, header, rows in _sections(data):
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if intro:
            parts.append(f"<p>{html.escape(intro)}</p>")
        parts.append(_html_table(header, rows))
        if name == COVERAGE_TITLE:
            parts.append(charts)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_quality_report(store: Any, run_summary: dict[str, Any] | None = None, *,
                         cross_year: dict[str, Any] | None = None, run_id: str | None = None) -> tuple[str, str]:
    """(markdown, html) of the lake's data quality; `run_summary` (a run row) and `cross_year` (run_cross_year's
    summary) are shown when given."""
    data = collect_quality(store, run_summary, cross_year, run_id)
    return render_markdown(data), render_html(data)


def report_key(run_id: str) -> str:
    from tasks import lake
    return f"{REPORTS_PREFIX}/{lake._check_id(run_id, 'run_id')}.html"


def write_quality_report(store: Any, run_id: str, run_summary: dict[str, Any] | None = None, *,
                         cross_year: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the report and write _reports/<run_id>.html and _reports/latest.html (each one atomic put)."""
    markdown, page = build_quality_report(store, run_summary, cross_year=cross_year, run_id=run_id)
    data = page.encode("utf-8")
    key = report_key(run_id)
    latest = f"{REPORTS_PREFIX}/{LATEST}.html"
    store.put_bytes(key, data)
    store.put_bytes(latest, data)
    return {"markdown": markdown, "html_key": key, "latest_key": latest, "html_uri": store.uri(key),
            "bytes": len(data)}
