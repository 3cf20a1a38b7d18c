"""The transparency indicator views (schemas/indicators.py) against the truth file of a generated corpus: one
province's governments for three years with exact shares of missing, late, undated, incomplete and inconsistent
reports (tasks/synth/corpus.py PublisherPanel), plus department reports of the same places, run through the nightly
flow and its post-run step. Answers are computed in plain Python from the truth entries, not by the views."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas import indicators
from schemas.tables import EXPECTED_PUBLISHERS
from tasks.parse.divisions import DIVISION_TABLE_VINTAGE, governments, resolve_organ
from tasks.report import bi
from tasks.storage import Store
from tasks.synth.corpus import PublisherPanel, generate_corpus, read_truth
from tests.analyst_lake import nightly_with_post_run, rule_findings

PANEL = PublisherPanel()


@pytest.fixture(scope="module")
def panel_lake(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("panel")
    src, dest = root / "source", root / "lake"
    generate_corpus(Store(str(src)), 0, seed=5, broken_share=0.0, duplicate_share=0.0, panel=PANEL)
    truth = read_truth(Store(str(src)))
    nightly_with_post_run(source=str(src), dest=str(dest))
    con = bi.connect(dest)
    yield truth, con
    con.close()


def _reports(truth):
    return [t for t in truth if t["kind"] == "report"]


# -- the generator gives what it promises ------------------------------------------------------------------------

def test_the_panel_has_the_exact_shares_it_was_given():
    from tasks.synth.corpus import generate_publisher_panel

    _, truth = generate_publisher_panel(PANEL, seed=5)
    govs = [g for g in governments() if g[0].division_code.startswith(PANEL.province)]
    cells = len(govs) * (PANEL.years[1] - PANEL.years[0] + 1)
    missing = [t for t in truth if t["kind"] == "missing_report"]
    published = [t for t in _reports(truth) if t["publisher"]]
    assert len(missing) == round(PANEL.missing_share * cells) and len(published) == cells - len(missing)
    when = Counter(t["timeliness"] for t in published)
    assert when["late"] == round(PANEL.late_share * len(published)) > 0
    assert when["undated"] == round(PANEL.undated_share * (len(published) - when["late"])) > 0
    incomplete = sum(not t["complete"] for t in published)
    assert incomplete == round(PANEL.incomplete_share * len(published)) > 0
    assert sum(1 for t in published if rule_findings(t["record"])) == round(
        PANEL.inconsistent_share * (len(published) - incomplete)) > 0
    assert len([t for t in _reports(truth) if not t["publisher"]]) == PANEL.departments
    for t in published:  # the printed date decides: late after 31 March, on time up to it
        date = t["record"]["published_date"]
        deadline = dt.date.fromisoformat(t["deadline"])
        assert (t["timeliness"] == "undated") == (date is None)
        if date:
            assert (dt.date.fromisoformat(date) > deadline) == (t["timeliness"] == "late")


def test_every_expected_publisher_resolves_to_itself():
    """The coverage join relies on it: each government's name, as it signs, gives back its code and level."""
    frame = bi.expected_publishers_frame()
    assert frame.height == len(governments()) > 3000
    assert frame.select("division_code", "level").is_unique().all()
    assert set(frame.get_column("vintage")) == {DIVISION_TABLE_VINTAGE}
    assert frame.filter(pl.col("level") == "provincial").height == 31  # Taiwan, Hong Kong, Macau aside
    for row in frame.iter_rows(named=True):
        d = resolve_organ(row["government"])
        assert (d.division_code, d.admin_level, d.organ_kind) == (row["division_code"], row["level"], "government"), row


def test_indicator_views_have_their_declared_columns(tmp_path):
    con = bi.connect(tmp_path / "empty")
    for view in indicators.VIEWS:
        described = con.sql(f'DESCRIBE "{view.name}"').fetchall()
        assert [(name, kind) for name, kind, *_ in described] == [
            (c.name, bi.duckdb_type(c.dtype)) for c in view.columns], view.name
    assert con.sql("SELECT count(*) FROM publisher_coverage").fetchall() == [(0,)]  # no table yet: empty, no error


def test_views_sql_holds_the_indicators_and_the_dictionary_documents_them():
    from schemas import dictionary

    text, doc = bi.views_sql(), dictionary.render()
    for view in indicators.VIEWS:
        assert f'CREATE OR REPLACE VIEW "{view.name}" AS' in text and f"### `{view.name}`" in doc
    assert f"### `{EXPECTED_PUBLISHERS.name}`" in doc


# -- the views against the truth ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_expected_publishers_is_in_the_lake(panel_lake):
    _, con = panel_lake
    assert con.sql("SELECT count(*), count(DISTINCT vintage) FROM expected_publishers").fetchall() == [
        (len(governments()), 1)]


@pytest.mark.slow
def test_timeliness_answers_the_truth(panel_lake):
    truth, con = panel_lake
    expected = {t["key"]: (t["timeliness"], t["days_late"], t["deadline"]) for t in _reports(truth)}
    got = {r[0]: (r[1], r[2], r[3].isoformat()) for r in con.sql(
        "SELECT source, timeliness, days_late, deadline FROM report_timeliness").fetchall()}
    assert got == expected
    late = sum(1 for v in expected.values() if v[0] == "late")
    assert con.sql("SELECT count(*) FROM report_timeliness WHERE timeliness = 'late'").fetchall() == [(late,)]


@pytest.mark.slow
def test_coverage_answers_the_truth(panel_lake):
    truth, con = panel_lake
    cells = {(t["publisher"]["division_code"], t["publisher"]["level"], t["record"]["year"]): t
             for t in _reports(truth) if t["publisher"]}
    missing = {(t["division_code"], t["level"], t["year"]) for t in truth if t["kind"] == "missing_report"}
    rows = con.sql("SELECT division_code, admin_level, year, published, reports, on_time FROM publisher_coverage "
                   f"WHERE division_code LIKE '{PANEL.province}%'").fetchall()
    assert {(c, lv, y) for c, lv, y, *_ in rows} == set(cells) | missing  # every government, every year
    for code, level, year, published, n, on_time in rows:
        t = cells.get((code, level, year))
        assert published == (t is not None) and n == (1 if t else 0), (code, year)
        assert on_time == (None if t is None or t["timeliness"] == "undated" else t["timeliness"] == "on_time")
    # departments of the same places publish too, but are not the governments coverage counts
    assert con.sql("SELECT count(*) FROM publisher_coverage WHERE published AND division_code NOT LIKE "
                   f"'{PANEL.province}%'").fetchall() == [(0,)]
    by_year = defaultdict(lambda: [0, 0])
    for key in set(cells) | missing:
        by_year[key[2]][0] += 1
        by_year[key[2]][1] += key in cells
    got = {y: [e, p] for y, e, p in con.sql(
        "SELECT year, sum(expected), sum(published) FROM coverage_by_province "
        f"WHERE province = (SELECT name FROM expected_publishers WHERE division_code = '{PANEL.province}0000') "
        "GROUP BY year").fetchall()}
    assert got == dict(by_year)
    total_missing = sum(e - p for e, p in by_year.values())
    assert total_missing == len(missing) == round(PANEL.missing_share * sum(e for e, _ in by_year.values()))


@pytest.mark.slow
def test_completeness_and_consistency_answer_the_truth(panel_lake):
    truth, con = panel_lake
    expected = {t["key"]: (t["complete"], t["complete"] and not rule_findings(t["record"])) for t in _reports(truth)}
    got = {s: (c, k) for s, c, k in con.sql("SELECT source, complete, consistent FROM report_quality").fetchall()}
    assert got == expected
    # and by province, level and year: the shares the dashboard shows
    acc: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for t in _reports(truth):
        a = acc[(t["record"]["year"], t["record"]["admin_level"])]
        complete, consistent = expected[t["key"]]
        a[0] += 1
        a[1] += complete
        a[2] += consistent
        a[3 + ("on_time", "late", "undated").index(t["timeliness"])] += 1
    rows = con.sql("SELECT year, admin_level, reports, complete, consistent, on_time, late, undated, complete_share, "
                   "consistent_share, late_share FROM indicators_by_province").fetchall()
    assert {(y, lv): list(r[:6]) for y, lv, *r in rows} == {k: v for k, v in acc.items()}
    for *_, n, complete, consistent, on_time, late, _undated, c_share, k_share, l_share in rows:
        assert (c_share, k_share) == (complete / n, consistent / n)
        assert l_share == (late / (on_time + late) if on_time + late else None)


def test_timeliness_deadlines_follow_the_spec(tmp_path):
    """31 March for county-and-above governments, 31 January for departments and townships; undated is undated."""
    from tasks.lake import write_partition
    from tests.lake_rows import report

    store = Store(tmp_path / "lake")
    rows = [("g", "county", "government", "2024-03-31"), ("g2", "county", "government", "2024-04-01"),
            ("d", "county", "department", "2024-01-31"), ("d2", "county", "department", "2024-02-01"),
            ("t", "township", "government", "2024-02-01"), ("u", "prefectural", "government", None)]
    frames = defaultdict(list)
    for rid, level, kind, date in rows:
        frames[level].append(report(rid, 2023, "x", level=level) | {
            "organ_kind": kind, "published_date": dt.date.fromisoformat(date) if date else None})
    from schemas.tables import REPORTS

    for level, rs in frames.items():
        write_partition(store, "reports", 2023, level, pl.DataFrame(rs, schema=REPORTS.polars_schema))
    con = bi.connect(store)
    got = {r[0]: r[1:] for r in con.sql("SELECT report_id, timeliness, days_late FROM report_timeliness").fetchall()}
    assert got == {"g": ("on_time", 0), "g2": ("late", 1), "d": ("on_time", 0), "d2": ("late", 1),
                   "t": ("late", 1), "u": ("undated", None)}


def test_a_views_file_opened_read_only_answers_like_the_connection(tmp_path):
    db = tmp_path / "bi.duckdb"
    bi.connect(tmp_path / "lake", str(db)).close()
    ro = duckdb.connect(str(db), read_only=True)
    assert ro.sql("SELECT count(*) FROM coverage_by_province").fetchall() == [(0,)]
    ro.close()
    assert Path(db).exists()
