"""BI: deploy/bi/views.sql is generated from schemas/, and every example query answers what the truth file says."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.tables import CROSS_YEAR_FINDINGS, FAILURES, TABLES
from tasks.report import bi
from tasks.storage import Store
from tests import analyst_lake as answers


def test_views_sql_is_generated_from_the_schemas():
    on_disk = bi.VIEWS_PATH.read_text(encoding="utf-8") if bi.VIEWS_PATH.exists() else ""
    assert on_disk == bi.views_sql(), "deploy/bi/views.sql is out of date: run `python -m tasks.report.bi --write-views` (make docs)"


def test_every_table_and_column_has_a_view():
    text = bi.views_sql()
    for table in (*TABLES.values(), CROSS_YEAR_FINDINGS, FAILURES):
        view = text[text.index(f'CREATE OR REPLACE VIEW "{table.name}" AS'):]
        view = view[:view.index(";")]
        assert [c.name for c in table.columns] == [
            line.strip().rstrip(",").strip('"') for line in view.split("SELECT\n", 1)[1].split("\nFROM")[0].splitlines()]


def test_an_empty_lake_gives_typed_empty_views(tmp_path):
    con = bi.connect(tmp_path / "nothing")
    for table in (*TABLES.values(), CROSS_YEAR_FINDINGS, FAILURES):
        described = con.sql(f'DESCRIBE "{table.name}"').fetchall()
        assert [(name, kind) for name, kind, *_ in described] == [
            (c.name, bi.duckdb_type(c.dtype)) for c in table.columns]
        assert con.sql(f'SELECT count(*) FROM "{table.name}"').fetchall() == [(0,)]
    for name in bi.query_names():  # every query runs (and returns nothing) on an empty lake
        assert bi.run_query(con, name).height == 0, name


def test_views_persist_in_a_database_file_with_the_lake_root_written_in(tmp_path):
    lake_dir, db = tmp_path / "lake", tmp_path / "views.duckdb"
    bi.connect(lake_dir, str(db)).close()
    reopened = duckdb.connect(str(db), read_only=True)  # as Superset opens it: no variable, no Python set-up
    assert reopened.sql("SELECT count(*) FROM applications").fetchall() == [(0,)]
    assert str(lake_dir) in reopened.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'reports'").fetchall()[0][0]
    reopened.close()


def test_outcome_categories_follow_the_row_keys():
    assert bi.outcome_category("denied_state_secret") == ("denied", "state_secret")
    assert bi.outcome_category("not_processed_duplicate") == ("not_processed", "duplicate")
    assert bi.outcome_category("other") == ("other", None)
    assert bi.outcome_category("other_misc") == ("other", "misc")
    assert bi.outcome_category("granted") == ("granted", None)


# -- the queries on the analyst lake, against the truth file ---------------------------------------------------

@pytest.fixture(scope="module")
def con(analyst_lake):
    connection = bi.connect(analyst_lake.dest)
    yield connection
    connection.close()


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_requests_by_year_level(result: pl.DataFrame, lake) -> None:
    got = {(r["year"], r["admin_level"]): (r["reports"], r["new_requests"], r["carried_over"], r["handled"],
                                           r["carried_forward"]) for r in result.iter_rows(named=True)}
    assert got == answers.requests_by_year_level(lake.truth)
    assert result.get_column("year").is_sorted()


def check_outcome_shares(result: pl.DataFrame, lake) -> None:
    expected = answers.outcomes(lake.truth)
    got = {(r["year"], r["category"], r["reason"]): r["requests"] for r in result.iter_rows(named=True)}
    assert got == expected
    year_totals: Counter[int] = Counter()
    for (year, _, _), n in expected.items():
        year_totals[year] += n
    for r in result.iter_rows(named=True):
        assert _close(r["share"], r["requests"] / year_totals[r["year"]])
    assert {c for _, c, _ in got} == {"granted", "partially_granted", "denied", "unavailable", "not_processed", "other"}


def check_denied_by_reason(result: pl.DataFrame, lake) -> None:
    denied: Counter[str] = Counter()
    for (_, category, reason), n in answers.outcomes(lake.truth).items():
        if category == "denied":
            denied[reason] += n
    assert dict(zip(result.get_column("reason"), result.get_column("requests"), strict=True)) == dict(denied)
    total = sum(denied.values())
    for r in result.iter_rows(named=True):
        assert _close(r["share"], r["requests"] / total)
        assert r["label"] and r["label"][0].isdigit()  # the printed label, 1.属于国家秘密 …
    assert result.get_column("requests").is_sorted(descending=True)


def check_review_litigation_outcomes(result: pl.DataFrame, lake) -> None:
    expected = answers.review_outcomes(lake.truth)
    got = {(r["year"], r["group"]): (r["reports"], r["upheld"], r["corrected"], r["other"], r["pending"], r["total"])
           for r in result.iter_rows(named=True)}
    assert got == expected
    for r in result.iter_rows(named=True):
        concluded = r["upheld"] + r["corrected"] + r["other"]
        assert r["corrected_share"] is None if concluded == 0 else _close(r["corrected_share"], r["corrected"] / concluded)


def _report_rows(lake) -> tuple[dict[str, Counter[str]], list[str]]:
    return answers.failing_reports(lake.truth), answers.broken_reports(lake.truth, lake.source)


def check_reports_failing_rules(result: pl.DataFrame, lake) -> None:
    failing, broken = _report_rows(lake)
    expected = {key: (sum(found.values()), sorted(found)) for key, found in failing.items()}
    expected |= {key: (1, ["unsupported_format"]) for key in broken}
    got = {r["source"]: (r["errors"], list(r["rules"])) for r in result.iter_rows(named=True)}
    assert got == expected


def check_organs_failing_rules(result: pl.DataFrame, lake) -> None:
    failing, broken = _report_rows(lake)
    by_key = {t["key"]: t for t in answers.reports_of(lake.truth)}
    expected: dict[tuple[str, str | None], list] = defaultdict(lambda: [0, 0, set(), set()])
    for key, found in failing.items():
        t = by_key[key]
        e = expected[(t["record"]["organ"], t["division"]["division_code"])]
        e[0] += 1
        e[1] += sum(found.values())
        e[2] |= set(found)
        e[3].add(t["record"]["year"])
    got = {(r["organ"], r["division_code"]): r for r in result.iter_rows(named=True)}
    for organ_key, (reports, errors, rules, years) in expected.items():
        r = got.pop(organ_key)
        assert (r["failing_reports"], r["errors"], list(r["rules"]), list(r["years"])) == (
            reports, errors, sorted(rules), sorted(years)), organ_key
    # what is left are the broken files (not annual reports): unsupported, whatever organ the text seemed to name
    assert sum(r["failing_reports"] for r in got.values()) == len(broken)
    assert all(list(r["rules"]) == ["unsupported_format"] for r in got.values())


def check_top_findings(result: pl.DataFrame, lake) -> None:
    failing, broken = _report_rows(lake)
    expected: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for found in failing.values():
        for rule, n in found.items():
            expected[(rule, "error", "report")][0] += n
            expected[(rule, "error", "report")][1] += 1
    if broken:
        expected[("unsupported_format", "error", "report")] = [len(broken), len(broken)]
    cross = answers.cross_year(lake.truth)
    for rule in {r for _, r, *_ in cross}:
        mine = [c for c in cross if c[1] == rule]
        expected[(rule, "warning", "cross_year")] = [len(mine), len({c[0] for c in mine})]
    got = {(r["rule"], r["severity"], r["scope"]): [r["findings"], r["reports"]] for r in result.iter_rows(named=True)}
    assert got == dict(expected)
    assert result.get_column("findings").is_sorted(descending=True)


def check_cross_year_mismatches(result: pl.DataFrame, lake) -> None:
    got = set(result.select("source", "rule", "field", "expected", "actual").iter_rows())
    assert got == answers.cross_year(lake.truth)
    by_key = {t["key"]: t for t in answers.reports_of(lake.truth)}
    for r in result.iter_rows(named=True):
        t = by_key[r["source"]]
        assert (r["organ"], r["division_code"], r["year"]) == (
            t["record"]["organ"], t["division"]["division_code"], t["record"]["year"])


CHECKS = {
    "requests_by_year_level": check_requests_by_year_level,
    "outcome_shares": check_outcome_shares,
    "denied_by_reason": check_denied_by_reason,
    "review_litigation_outcomes": check_review_litigation_outcomes,
    "organs_failing_rules": check_organs_failing_rules,
    "reports_failing_rules": check_reports_failing_rules,
    "top_findings": check_top_findings,
    "cross_year_mismatches": check_cross_year_mismatches,
}


def test_every_query_has_a_check():
    assert set(bi.query_names()) == set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_query_answers_match_the_truth_file(con, analyst_lake, name):
    result = bi.run_query(con, name)
    assert result.height > 0, name
    CHECKS[name](result, analyst_lake)


@pytest.mark.slow
def test_views_sql_in_plain_duckdb_with_the_lake_variable(con, analyst_lake):
    """What an analyst does in the DuckDB CLI: SET VARIABLE lake, .read views.sql, run a query file."""
    plain = duckdb.connect()
    plain.execute(f"SET VARIABLE lake = '{analyst_lake.dest}'")
    plain.execute(bi.VIEWS_PATH.read_text(encoding="utf-8"))
    for name in ("requests_by_year_level", "top_findings"):
        assert plain.sql(bi.query_text(name)).pl().equals(bi.run_query(con, name))
    plain.close()


@pytest.mark.slow
def test_views_over_s3_through_fsspec(analyst_lake, weed, con):
    """The same views over an S3 copy of the lake (SeaweedFS), read through the store's s3fs filesystem (httpfs
    cannot be downloaded here)."""
    from tests.servers import store_for

    s3 = store_for(weed, "bi-lake")
    local = Path(analyst_lake.dest)
    for path in sorted(local.rglob("*.parquet")):
        rel = path.relative_to(local).as_posix()
        if rel.split("/", 1)[0] in (*TABLES, CROSS_YEAR_FINDINGS.name, FAILURES.name):
            s3.put_bytes(rel, path.read_bytes())
    remote = bi.connect(s3)
    for name in ("requests_by_year_level", "cross_year_mismatches"):
        assert remote.sql(bi.query_text(name)).pl().equals(bi.run_query(con, name)), name
    remote.close()


def test_main_writes_views_and_runs_queries(tmp_path, capsys, monkeypatch):
    target = tmp_path / "views.sql"
    monkeypatch.setattr(bi, "VIEWS_PATH", target)
    assert bi.main(["--write-views", "--lake", str(tmp_path / "empty"), "top_findings"]) == 0
    assert target.read_text(encoding="utf-8") == bi.views_sql()
    assert "-- top_findings" in capsys.readouterr().out


def test_store_objects_outside_tables_are_not_read(tmp_path):
    store = Store(tmp_path / "lake")
    store.put_bytes("_reports/latest.html", b"<html></html>")
    store.put_bytes("_state/processed.parquet", b"not parquet")
    con = bi.connect(store)
    assert con.sql("SELECT count(*) FROM reports").fetchall() == [(0,)]
