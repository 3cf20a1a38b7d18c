"""Cross-year rules: hand-built frames for each case, then a generated lake against its truth file."""

from __future__ import annotations

import polars as pl
import pytest

from schemas.tables import CROSS_YEAR_FINDINGS
from tasks import lake
from tasks.rules import cross_year as crossyear
from tasks.storage import Store
from tests.lake_rows import ZERO7, apps, frames, report, stock, write_tables


def carried(reports, app_rows) -> pl.DataFrame:
    r, a, _ = frames(reports, app_rows)
    return crossyear.carried_over_findings(r, a)


# -- carried_over_mismatch ---------------------------------------------------------------------------------------

def test_mismatch_gives_one_warning_per_column_naming_both_years_and_values():
    found = carried(
        [report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府")],
        apps("a21", 2021, ZERO7, [3, 0, 0, 0, 0, 1, 4]) + apps("a22", 2022, [2, 0, 0, 0, 0, 1, 3], ZERO7))
    assert found.schema == CROSS_YEAR_FINDINGS.polars_schema
    assert found.select("report_id", "year", "column", "field", "expected", "actual").rows() == [
        ("a22", 2022, "natural_person", "applications.carried_over[0]", "3", "2"),
        ("a22", 2022, "total", "applications.carried_over[6]", "4", "3"),
    ]
    row = found.row(0, named=True)
    assert (row["rule"], row["severity"], row["table"], row["row"]) == ("carried_over_mismatch", "warning",
                                                                        "applications", "carried_over")
    assert row["source"] == "src/a22.txt" and row["admin_level"] == "prefectural"
    for text in ("南京市人民政府", "2022", "2021", " 2 ", " 3 ", "src/a21.txt"):
        assert text in row["message"]


def test_consecutive_years_that_agree_give_nothing():
    assert carried(
        [report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府")],
        apps("a21", 2021, ZERO7, [3, 1, 0, 0, 2, 1, 7]) + apps("a22", 2022, [3, 1, 0, 0, 2, 1, 7], ZERO7)).is_empty()


def test_a_gap_year_is_not_compared():
    assert carried(
        [report("a19", 2019, "南京市人民政府"), report("a21", 2021, "南京市人民政府")],
        apps("a19", 2019, ZERO7, [5] * 7) + apps("a21", 2021, [1] * 7, ZERO7)).is_empty()


def test_same_name_in_another_division_is_another_organ():
    found = carried(
        [report("x21", 2021, "公安局", "320102"), report("y22", 2022, "公安局", "320104"),
         report("x22", 2022, "公安局", "320102")],
        apps("x21", 2021, ZERO7, [1] * 7) + apps("y22", 2022, [9] * 7, ZERO7) + apps("x22", 2022, [1] * 7, ZERO7))
    assert found.is_empty()  # y22 has no 2021 report in its division; x22 agrees with x21


def test_central_organs_without_division_code_match_by_name_and_names_are_normalised():
    found = carried(
        [report("c21", 2021, "国家 林业和草原局", None, level="central"),
         report("c22", 2022, "国家林业和草原局（ ）", None, level="central"),
         report("d22", 2022, "国家林业和草原局", "110000", level="central")],
        apps("c21", 2021, ZERO7, [2] * 7, "central") + apps("c22", 2022, [1] * 7, ZERO7, "central")
        + apps("d22", 2022, [1] * 7, ZERO7, "central"))
    assert found.get_column("report_id").unique().to_list() == ["c22"]  # d22 has a code: not the same organ
    assert found.height == 7


def test_blank_cells_cannot_be_judged():
    found = carried(
        [report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府")],
        apps("a21", 2021, ZERO7, [None, 4, 0, 0, 0, 0, None]) + apps("a22", 2022, [1, None, 0, 0, 0, 0, 9], ZERO7))
    assert found.is_empty()


def test_several_reports_of_the_year_before_pass_if_any_agrees():
    reports = [report("p1", 2021, "南京市人民政府"), report("p2", 2021, "南京市人民政府"),
               report("t", 2022, "南京市人民政府")]
    rows = apps("p1", 2021, ZERO7, [3] * 7) + apps("p2", 2021, ZERO7, [12] * 7)
    assert carried(reports, rows + apps("t", 2022, [12] * 7, ZERO7)).is_empty()
    found = carried(reports, rows + apps("t", 2022, [5] * 7, ZERO7))
    assert found.height == 7
    assert set(found.get_column("expected")) == {"3 or 12"}  # numeric order
    assert "src/p1.txt, src/p2.txt" in found.get_column("message")[0]


def test_unsupported_reports_unknown_year_and_nameless_organs_take_no_part():
    reports = [report("a21", 2021, "南京市人民政府"), report("u22", 2022, "南京市人民政府", status="unsupported"),
               report("n21", 2021, None), report("n22", 2022, None), report("z0", 0, "某局"), report("z1", 1, "某局")]
    rows = (apps("a21", 2021, ZERO7, [1] * 7) + apps("u22", 2022, [2] * 7, ZERO7) + apps("n21", 2021, ZERO7, [1] * 7)
            + apps("n22", 2022, [2] * 7, ZERO7) + apps("z0", 2019, ZERO7, [1] * 7) + apps("z1", 2019, [2] * 7, ZERO7))
    assert carried(reports, rows).is_empty()


def test_the_2020_to_2021_form_change_is_compared():
    found = carried([report("a20", 2020, "南京市人民政府"), report("a21", 2021, "南京市人民政府")],
                    apps("a20", 2020, ZERO7, [1] * 7) + apps("a21", 2021, [2] * 7, ZERO7))
    assert found.height == 7


# -- active_disclosure_in_force_mismatch -------------------------------------------------------------------------

def in_force(reports, stock_rows) -> pl.DataFrame:
    r, a, s = frames(reports, (), stock_rows)
    return crossyear.in_force_findings(r, s)


def test_in_force_stock_must_carry_on():
    reports = [report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府")]
    assert in_force(reports, stock("a21", 2021, 5, 0, 40) + stock("a22", 2022, 6, 2, 44)).is_empty()
    found = in_force(reports, stock("a21", 2021, 5, 0, 40) + stock("a22", 2022, 6, 2, 50))
    row = found.row(0, named=True)
    assert (row["rule"], row["severity"], row["table"], row["row"], row["column"], row["field"], row["expected"],
            row["actual"]) == ("active_disclosure_in_force_mismatch", "warning", "active_disclosure",
                               "normative_documents", "in_force", "active_disclosure.normative_documents.in_force",
                               "44", "50")
    for text in ("2021", "2022", "40", "+ 6 issued", "− 2", "= 44"):
        assert text in row["message"]


def test_in_force_is_checked_per_item_only_on_the_2021_form_and_not_on_blanks():
    reports = [report("a20", 2020, "南京市人民政府"), report("a21", 2021, "南京市人民政府"),
               report("a22", 2022, "南京市人民政府")]
    rows = (stock("a20", 2020, 1, None, 999) + stock("a21", 2021, 0, 0, 10)
            + stock("a21", 2021, 0, 0, 3, item="regulations") + stock("a22", 2022, None, 0, 77)
            + stock("a22", 2022, 1, 0, 5, item="regulations"))
    found = in_force(reports, rows)
    assert found.select("report_id", "row", "expected", "actual").rows() == [("a22", "regulations", "4", "5")]


def test_cross_year_findings_combines_both_rules_sorted():
    r, a, s = frames([report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府")],
                     apps("a21", 2021, ZERO7, [1] * 7) + apps("a22", 2022, [1] * 6 + [2], ZERO7),
                     stock("a21", 2021, 0, 0, 1) + stock("a22", 2022, 0, 0, 2))
    found = crossyear.cross_year_findings(r, a, s)
    assert found.get_column("rule").to_list() == ["active_disclosure_in_force_mismatch", "carried_over_mismatch"]


# -- the lake step -----------------------------------------------------------------------------------------------

def test_run_cross_year_writes_partitions_recomputes_wholly_and_removes_stale_ones(tmp_path):
    store = Store(tmp_path / "lake")
    write_tables(store, [report("a21", 2021, "南京市人民政府"), report("a22", 2022, "南京市人民政府"),
                   report("b23", 2023, "江宁区人民政府", "320115", level="county"),
                   report("b24", 2024, "江宁区人民政府", "320115", level="county")],
           apps("a21", 2021, ZERO7, [1] * 7) + apps("a22", 2022, [2] * 7, ZERO7)
           + apps("b23", 2023, ZERO7, [1] * 7, "county") + apps("b24", 2024, [1] * 7, ZERO7, "county"))
    summary = crossyear.run_cross_year(store)
    assert summary["findings"] == 7 and summary["by_rule"] == {"carried_over_mismatch": 7}
    assert summary["report_pairs"] == 2 and summary["organs_with_consecutive_years"] == 2
    assert lake.list_partitions(store, CROSS_YEAR_FINDINGS) == [(2022, "prefectural")]
    key = lake.partition_key(CROSS_YEAR_FINDINGS, 2022, "prefectural")
    first = store.get_bytes(key)
    assert crossyear.run_cross_year(store)["partitions_written"] == 1
    assert store.get_bytes(key) == first  # idempotent, byte for byte
    # the 2022 report is corrected, the 2024 one now disagrees: the old partition goes, a new one appears
    write_tables(store, [], apps("a22", 2022, [1] * 7, ZERO7) + apps("b24", 2024, [0] * 7, ZERO7, "county"))
    summary = crossyear.run_cross_year(store)
    assert (summary["partitions_written"], summary["partitions_removed"]) == (1, 1)
    assert lake.list_partitions(store, CROSS_YEAR_FINDINGS) == [(2024, "county")]
    found = lake.read_table(store, CROSS_YEAR_FINDINGS)
    assert set(found.get_column("report_id")) == {"b24"} and found.height == 7


def test_run_cross_year_on_an_empty_lake(tmp_path):
    summary = crossyear.run_cross_year(Store(tmp_path / "empty"))
    assert summary["findings"] == 0 and summary["partitions_written"] == 0


@pytest.mark.slow
def test_generated_lake_matches_the_truth_file(analyst_lake):
    from tests import analyst_lake as answers

    store = Store(str(analyst_lake.dest))
    found = lake.read_table(store, CROSS_YEAR_FINDINGS)
    got = set(found.select("source", "rule", "field", "expected", "actual").iter_rows())
    expected = answers.cross_year(analyst_lake.truth)
    assert got == expected
    assert {r for _, r, *_ in expected} == set(crossyear.RULES)  # both rules occur
    # the organs made to agree across years (non-zero values carried over) give no carried_over finding
    continued = [t for t in analyst_lake.truth if "/continued-" in t["key"]]
    assert any(t["record"]["applications"]["carried_over"][6] > 0 for t in continued)
    assert not {s for s, r, *_ in got if r == "carried_over_mismatch"} & {t["key"] for t in continued}
    # every finding sits in its report's partition
    assert found.select("year", "admin_level").unique().height == len(lake.list_partitions(store, CROSS_YEAR_FINDINGS))
    assert analyst_lake.post["cross_year"]["findings"] == len(expected)
