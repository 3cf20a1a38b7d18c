"""Hand-built rows of the lake's tables (reports, applications, active_disclosure) for small tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from schemas import form
from schemas.tables import ACTIVE_DISCLOSURE, APPLICATIONS, REPORTS
from tasks import lake
from tasks.storage import Store

ZERO7 = [0] * 7


def report(report_id: str, year: int, organ: str | None, code: str | None = "320100", *,
           level: str = "prefectural", status: str = "ok") -> dict[str, Any]:
    return {
        "report_id": report_id, "year": year, "admin_level": level, "source": f"src/{report_id}.txt",
        "content_hash": report_id * 2, "byte_size": 1, "encoding": "utf-8", "format_version": "2021" if year >= 2021 else "2019",
        "layout": "pipe", "title": None, "organ": organ, "organ_kind": "government", "province": None, "prefecture": None,
        "county": None, "division_code": code, "published_date": None, "index_number": None, "url": None,
        "parse_status": status, "error_count": 0, "warning_count": 0, "duplicate_sources": None, "parser_version": "t",
    }


def apps(report_id: str, year: int, carried_over: list[int | None], carried_forward: list[int | None],
         level: str = "prefectural") -> list[dict[str, Any]]:
    version = "2021" if year >= 2021 else "2019"
    rows = []
    for order, row in enumerate(form.APPLICATION_ROWS[version], 1):
        values = {"carried_over": carried_over, "carried_forward": carried_forward}.get(row.key, ZERO7)
        rows.append({"report_id": report_id, "year": year, "admin_level": level, "format_version": version,
                     "row_key": row.key, "row_order": order, "row_group": row.group,
                     **dict(zip(form.APPLICANTS, values, strict=True))})
    return rows


def stock(report_id: str, year: int, issued: float | None, repealed: float | None, in_force: float | None,
          item: str = "normative_documents", level: str = "prefectural") -> list[dict[str, Any]]:
    version = "2021" if year >= 2021 else "2019"
    if version == "2019":
        measures = {"new_made": issued, "new_published": issued, "total_published": in_force}
    else:
        measures = {"issued": issued, "repealed": repealed, "in_force": in_force}
    return [{"report_id": report_id, "year": year, "admin_level": level, "format_version": version, "item": item,
             "measure": m, "value": v, "raw": None} for m, v in measures.items()]


def frames(reports: list[dict], app_rows: list[dict] = (), stock_rows: list[dict] = ()):
    return (pl.DataFrame(reports, schema=REPORTS.polars_schema),
            pl.DataFrame(list(app_rows), schema=APPLICATIONS.polars_schema),
            pl.DataFrame(list(stock_rows), schema=ACTIVE_DISCLOSURE.polars_schema))


def write_tables(store: Store, reports: list[dict], app_rows: list[dict], stock_rows: list[dict] = ()) -> None:
    """Write the rows into their partitions (each partition replaced whole)."""
    for name, frame in zip(("reports", "applications", "active_disclosure"), frames(reports, app_rows, stock_rows),
                           strict=True):
        for (year, level), part in frame.partition_by(["year", "admin_level"], as_dict=True).items():
            lake.write_partition(store, name, year, level, part)
