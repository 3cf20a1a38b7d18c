"""HTML to text (tasks/decode.html_to_text): the XSLT stylesheet that reads pages and the Python walk that reads what
it cannot give the same text, and merged cells, scripts, line breaks and odd whitespace come out as the grid says."""

from __future__ import annotations

import random

import pytest

from tasks.parse.divisions import sample_divisions
from tasks.parse.html_text import _MARKERS, html_to_text
from tasks.synth.render import random_record, render

CASES = {
    "spans": (
        "<table><tr><td>a|b</td><td rowspan=2>x<br>y</td></tr><tr><td>c</td></tr><tr><td colspan=3>z</td></tr></table>",
        "a b | x y |  |\nc | x y |  |\nz |"),
    "label_spanning_rows": (
        "<table><tr><td rowspan=3>(三)不予公开</td><td>1.国家秘密</td><td>0</td></tr>"
        "<tr><td>2.其他</td><td>1</td></tr><tr><td>3.三安全</td><td>2</td></tr></table>",
        "(三)不予公开 | 1.国家秘密 | 0 |\n(三)不予公开 | 2.其他 | 1 |\n(三)不予公开 | 3.三安全 | 2 |"),
    "rowspan_past_the_last_row_and_odd_attributes": (
        "<table><tr><td rowspan=' 9 '>a</td><td colspan='x'>b</td><td colspan=''>c</td></tr>"
        "<tr><td rowspan='²'>d</td></tr></table>",
        "a | b | c |\na | d |  |"),
    "script_style_and_whitespace_in_cells": (
        "<p>x<script>bad()</script>y</p><table><tr><td>1<style>q</style>2</td>"
        "<td>\u3000 3 \u00a0\u2003</td><td> <p>4</p>\n<div>5</div> </td></tr></table>tail",
        "xy\n12 | 3 | 4 5 |\ntail"),
    "rows_without_cells": ("<table><tr></tr><tr><td></td></tr></table>", "|\n|"),
    "table_without_rows": ("<table><caption>c</caption><div>1</div></table>", "c\n1"),
    "layout_table_holding_a_data_table": (
        "<table><tr><td>nav</td><td><table><tr><td>in</td><td>2</td></tr></table></td></tr></table>",
        "nav\nin | 2 |"),
    "control_characters_from_references": ("<table><tr><td>&#12;a&#x1c;b&#11;</td></tr></table>", "a b |"),
    "head_title_and_blocks": ("<html><head><title>t</title></head><body><h1>标题</h1>正文<br>下一行</body></html>",
                              "标题\n正文\n下一行"),
}


@pytest.mark.parametrize("name", CASES)
def test_html_cases(name):
    page, want = CASES[name]
    assert html_to_text(page) == want
    assert html_to_text(page, stylesheet=False) == want


def test_stylesheet_and_python_walk_agree_on_rendered_reports():
    rng = random.Random(5)
    organs = sample_divisions(rng, 50)
    for seed in range(40):
        organ, level, div = organs[rng.randrange(len(organs))]
        rec = random_record(rng, organ=organ, admin_level=level, province=div.province, blanks=seed % 3 == 0)
        page = render(rec, "html", rng=seed, spam=seed % 5 == 0)
        text = html_to_text(page)
        assert text == html_to_text(page, stylesheet=False), seed
        assert " | " in text and not any(m in text for m in _MARKERS)


@pytest.mark.parametrize("marker", ["raw", "hex reference", "decimal reference"])
def test_a_page_holding_the_markers_is_read_by_the_walk(marker):
    mark = {"raw": _MARKERS[3], "hex reference": f"&#x{ord(_MARKERS[3]):X};",
            "decimal reference": f"&#{ord(_MARKERS[3])};"}[marker]
    page = f"<p>a{mark}b</p><table><tr><td rowspan=2>x{mark}y</td><td>1</td></tr><tr><td>2</td></tr></table>"
    char = _MARKERS[3]
    assert html_to_text(page) == f"a{char}b\nx y | 1 |\nx y | 2 |"


def test_every_marker_reference_is_recognised():
    from tasks.parse.html_text import _MARKER_REF_RE

    for m in _MARKERS:
        for ref in (f"&#{ord(m)};", f"&#x{ord(m):x};", f"&#X{ord(m):X};", f"&#00{ord(m)};"):
            assert _MARKER_REF_RE.search(ref), ref
    assert not _MARKER_REF_RE.search("&#57359; &#57367; &#xe00f; &#xe017; &#160;")


def test_deep_wrappers_are_flattened_for_both_readers():
    page = "<div>" * 2600 + "deep<table><tr><td>1</td><td>2</td></tr></table>" + "</div>" * 2600
    assert html_to_text(page) == html_to_text(page, stylesheet=False) == "deep\n1 | 2 |"
