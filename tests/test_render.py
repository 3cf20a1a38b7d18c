"""Tests for the report renderer (tasks/synth/render.py): structure, values, noise, encodings, sum rules, speed."""

from __future__ import annotations

import html as htmllib
import random
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import html as lxml_html

from schemas.form import (
    ACTIVE_DISCLOSURE,
    APPLICATION_ROWS,
    FORMAT_VERSIONS,
    REVIEW_OUTCOME_LABELS,
    SECTION_TITLES,
)
from tasks.synth.render import (
    ENCODINGS,
    LAYOUTS,
    NOISE_SPAM,
    random_record,
    render,
    render_bytes,
)
from tests.strategies import layouts, records

# Section headings as they may be printed (SECTION_TITLES and the variants from the spec).
HEADINGS = ("一、总体情况", "二、主动公开政府信息情况", "三、(收到和处理|依申请公开)", "四、(政府信息公开行政|行政复议)",
            "五、(政府信息公开工作)?存在的主要问题", "六、其他需要报告的事项")
NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?")
PAGE_MARKER = re.compile(r"^- \d+ -$", re.M)


def _plain(text: str) -> str:
    """Report text as a reader sees it: tags dropped (html), NFKC, page markers removed."""
    if "<html" in text:
        text = re.sub(r"<(script|title)>.*?</\1>", "", text, flags=re.S)
        text = htmllib.unescape(re.sub(r"<br/?>", "\n", re.sub(r"</?(td|p|tr|div|h1)[^>]*>", "\n", text)))
        text = re.sub(r"<[^>]+>", "", text)
    text = unicodedata.normalize("NFKC", text)
    return PAGE_MARKER.sub("", text)


def _squash(text: str) -> str:
    """_plain without any white space, and 1、 read as 1. (PDF numbering of the (六) items)."""
    return re.sub(r"(\d)、", r"\1.", re.sub(r"\s+", "", _plain(text)))


def _read_numbers(text: str, pos: int, count: int) -> tuple[list[float], int]:
    values: list[float] = []
    for m in NUMBER.finditer(text, pos):
        values.append(float(m.group().replace(",", "")))
        if len(values) == count:
            return values, m.end()
    raise AssertionError(f"fewer than {count} numbers after position {pos}")


# Inside a printed label: white space (PDF wraps it anywhere), and a wrapped label's numbers where PDF text puts
# them beside its first or a middle line (`2.其他法律行政 30 1 0 0 0 0 31` / `法规禁止公开`).
_LABEL_GAP = r"(?:\s|(?<=\s)[+\-]?\d[\d,.]*(?=\s))*"


def _label_re(label: str) -> re.Pattern:
    """A printed label, item numbers as 1. or 1、; what follows its item number is the group `body`."""
    label = unicodedata.normalize("NFKC", label)
    if label[:1].isdigit() and label[1:2] == ".":
        return re.compile(label[0] + r"\s*[.、]\s*(?P<body>" + _LABEL_GAP.join(map(re.escape, label[2:])) + ")")
    return re.compile("(?P<body>" + _LABEL_GAP.join(map(re.escape, label)) + ")")


def _read_row(plain: str, label: str, pos: int, count: int) -> tuple[list[float], int]:
    """The `count` numbers of the row labelled `label` at or after `pos`: those inside the label, then after it."""
    m = _label_re(label).search(plain, pos)
    assert m, label
    inside = [float(v.replace(",", "")) for v in NUMBER.findall(m.group("body"))]
    if len(inside) >= count:
        return inside[:count], m.end()
    after, end = _read_numbers(plain, m.end(), count - len(inside))
    return inside + after, end


def _parse(text: str, version: str) -> dict:
    """A minimal reader for every layout except flattened: each label in form order, then the numbers after it."""
    plain = _plain(text)
    plain = re.sub(r"(?<=\d)\s*万?元", "", plain)  # units in money cells (seed 001: 251000元)
    t2 = re.search(re.escape(SECTION_TITLES[1]), plain).end()
    active = {}
    pos = t2
    for item in ACTIVE_DISCLOSURE[version]:
        vals, pos = _read_row(plain, item.label, pos, len(item.measures))
        active[item.key] = dict(zip(item.measures, vals, strict=True))
    apps = {}
    for row in APPLICATION_ROWS[version]:
        apps[row.key], pos = _read_row(plain, row.label, pos, 7)
    last_head = [m.end() for m in re.finditer(r"总\s*计", plain[pos:])][-1] + pos
    review, _ = _read_numbers(plain, last_head, 15)
    return {"active_disclosure": active, "applications": apps, "review_litigation": review}


def _as_floats(rec: dict) -> dict:
    return {
        "active_disclosure": {k: {m: float(v) for m, v in vals.items()} for k, vals in rec["active_disclosure"].items()},
        "applications": {k: [float(v) for v in vals] for k, vals in rec["applications"].items()},
        "review_litigation": [float(v) for v in rec["review_litigation"]],
    }


def _check_sum_rules(rec: dict) -> None:
    rows = APPLICATION_ROWS[rec["format_version"]]
    apps = rec["applications"]
    assert list(apps) == [r.key for r in rows]
    for key, vals in apps.items():
        assert len(vals) == 7 and all(isinstance(v, int) and v >= 0 for v in vals), key
        assert vals[6] == sum(vals[:6]), f"row total {key}"
    details = [r.key for r in rows if r.group == "outcome"]
    for col in range(7):
        assert apps["total"][col] == sum(apps[k][col] for k in details), f"detail sum col {col}"
        assert apps["new_received"][col] + apps["carried_over"][col] == apps["total"][col] + apps["carried_forward"][col]
    review = rec["review_litigation"]
    assert len(review) == 15 and all(isinstance(v, int) and v >= 0 for v in review)
    for g in range(3):
        assert review[5 * g + 4] == sum(review[5 * g: 5 * g + 4])


# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", FORMAT_VERSIONS)
def test_random_record_shape_and_sum_rules(version):
    rng = random.Random(1)
    for _ in range(300):
        rec = random_record(rng, format_version=version)
        assert rec["format_version"] == version
        assert (rec["year"] <= 2020) == (version == "2019")
        items = ACTIVE_DISCLOSURE[version]
        assert list(rec["active_disclosure"]) == [it.key for it in items]
        for it in items:
            assert list(rec["active_disclosure"][it.key]) == list(it.measures)
        _check_sum_rules(rec)


def test_random_record_year_drives_version_and_metadata():
    rng = random.Random(2)
    assert random_record(rng, year=2020)["format_version"] == "2019"
    assert random_record(rng, year=2021)["format_version"] == "2021"
    rec = random_record(rng, organ="淮安市人民政府", admin_level="prefectural", province="江苏省", year=2023)
    assert (rec["organ"], rec["admin_level"], rec["province"], rec["year"]) == ("淮安市人民政府", "prefectural", "江苏省", 2023)
    levels = {random_record(rng)["admin_level"] for _ in range(400)}
    assert {"township", "county", "prefectural", "provincial", "central"} <= levels


def test_random_record_mostly_small_sometimes_large():
    rng = random.Random(3)
    totals = [random_record(rng)["applications"]["new_received"][6] for _ in range(600)]
    assert sum(t == 0 for t in totals) > 150
    assert max(totals) > 1000


def test_inconsistent_records_break_a_rule():
    rng = random.Random(4)
    for _ in range(50):
        with pytest.raises(AssertionError):
            _check_sum_rules(random_record(rng, consistent=False))


def test_blanks_only_where_sums_survive():
    rng = random.Random(5)
    seen_none = False
    for _ in range(200):
        rec = random_record(rng, blanks=True)
        for key, vals in rec["applications"].items():
            seen_none |= None in vals
            printed = [0 if v is None else v for v in vals]
            if vals[6] is not None:
                assert printed[6] == sum(printed[:6]), key
    assert seen_none


def test_deterministic_given_seed():
    for layout in LAYOUTS:
        a = render(random_record(random.Random(9)), layout, rng=random.Random(7))
        b = render(random_record(random.Random(9)), layout, rng=random.Random(7))
        assert a == b
        rec = random_record(random.Random(10))
        assert render(rec, layout) == render(rec, layout)  # rng=None seeds from the record
        assert render(rec, layout, rng=1) != render(rec, layout, rng=2)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", FORMAT_VERSIONS)
def test_layout_has_structure_labels_and_numbers(layout, version):
    for seed in range(12):
        rec = random_record(random.Random(seed), format_version=version, admin_level="prefectural")
        text = render(rec, layout, rng=seed)
        flat = _squash(text)
        assert f"{rec['year']}年" in flat
        assert f"统计期限为{rec['year']}年1月1日至{rec['year']}年12月31日" in flat or f"{rec['year']}年12月31日" in flat
        assert rec["organ"] in flat
        positions = [m.start() if (m := re.search(h, flat)) else -1 for h in HEADINGS]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
        for item in ACTIVE_DISCLOSURE[version]:
            assert item.label in flat, item.label
        for row in APPLICATION_ROWS[version]:
            assert _label_re(row.label).search(_plain(text)), row.label
        for label in REVIEW_OUTCOME_LABELS:
            assert label in flat
        digits = flat.replace(",", "")
        for v in rec["review_litigation"] + rec["applications"]["new_received"]:
            assert str(v) in digits


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay != "flattened"])
def test_values_read_back_without_noise(layout):
    for seed in range(15):
        rec = random_record(random.Random(seed), admin_level=random.Random(seed).choice(["prefectural", "county"]))
        assert _parse(render(rec, layout, rng=seed, noise=False), rec["format_version"]) == _as_floats(rec)


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay != "flattened"])
def test_noise_never_changes_a_value(layout):
    for seed in range(40):
        rec = random_record(random.Random(100 + seed), admin_level="prefectural")
        assert _parse(render(rec, layout, rng=seed), rec["format_version"]) == _as_floats(rec)


def test_flattened_fuses_cells_and_glues_item_numbers():
    rec = random_record(random.Random(12), format_version="2021", admin_level="prefectural")
    text = render(rec, "flattened", rng=3, noise=False)
    flat = _squash(text)
    rows = APPLICATION_ROWS["2021"]
    for i, row in enumerate(rows):
        fused = _squash(row.label) + "".join(str(v) for v in rec["applications"][row.key])
        assert fused in flat, row.key
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if nxt is not None and nxt.number and nxt.number != "1":  # …75000007 then 2.没有现成…
            assert fused + nxt.number + "." in flat
    assert "".join(str(v) for v in rec["review_litigation"]) in flat
    table_line = next(line for line in text.splitlines() if "规章" in line and "第二十条" in line)
    assert "|" not in table_line and " " not in table_line


def test_html_grid_is_rectangular_and_values_in_place():
    for seed in range(10):
        rec = random_record(random.Random(seed), blanks=seed % 2 == 1)
        doc = lxml_html.fromstring(render(rec, "html", rng=seed))
        tables = doc.findall(".//table")
        grids = [_expand(t) for t in tables if len(t.findall(".//td")) > 20]
        assert len(grids) == 3
        widths = [{len(r) for r in g} for g in grids]
        assert widths == [{4}, {10}, {15}], widths
        t3 = grids[1][3:]
        for row, key in zip(t3, rec["applications"], strict=True):
            want = ["" if v is None else str(v) for v in rec["applications"][key]]
            got = [unicodedata.normalize("NFKC", c).strip().replace(",", "") for c in row[3:]]
            assert got == want, key
        assert doc.find(".//meta").get("charset") == "utf-8"
        assert "分享到" in doc.text_content()


def _expand(table) -> list[list[str]]:
    """An HTML table as a rectangular grid (rowspan/colspan cells repeated)."""
    grid: dict[tuple[int, int], str] = {}
    for r, tr in enumerate(table.findall(".//tr")):
        c = 0
        for td in tr.findall("td"):
            while (r, c) in grid:
                c += 1
            text = td.text_content()
            for dr in range(int(td.get("rowspan", 1))):
                for dc in range(int(td.get("colspan", 1))):
                    grid[(r + dr, c + dc)] = text
            c += int(td.get("colspan", 1))
    nrows = max(r for r, _ in grid) + 1
    return [[grid[(r, c)] for c in range(max(cc for rr, cc in grid if rr == r) + 1)] for r in range(nrows)]


def test_pdf_text_shape():
    rec = random_record(random.Random(21), format_version="2021", admin_level="prefectural")
    text = render(rec, "pdf_text", rng=4)
    lines = text.splitlines()
    assert lines[0] == "- 1 -" and sum(bool(PAGE_MARKER.fullmatch(x)) for x in lines) >= 3
    assert "\n本\n年\n度\n办\n理\n结\n果\n" in text
    assert re.search(r"^[123]、", text, re.M) or "（六）其他处理" not in text
    assert max(len(x) for x in lines) < 80  # fixed-width lines


def test_whitespace_layout_shape():
    text = render(random_record(random.Random(22)), "whitespace_cell_per_line", rng=5)
    assert "\n\n" in text and "|" not in text.split(SECTION_TITLES[1])[1]
    assert "\xa0" in text


def test_pipe_rows_like_the_seeds():
    rec = random_record(random.Random(23), format_version="2021")
    text = render(rec, "pipe", rng=6, noise=False)
    reg = rec["active_disclosure"]["regulations"]
    assert f"规章 | {reg['issued']} | {reg['repealed']} | {reg['in_force']} |" in text
    assert re.search(r"三、本年度办理结果 \| [(（]一[)）]予以公开 \| (\d+ \| ){7}\|$", text, re.M)
    assert re.search(r"^第二十条第[(（]五[)）]项 \| \|\|\|$", text, re.M)


def test_blank_cells_render_empty():
    rec = random_record(random.Random(24), format_version="2021")
    rec["active_disclosure"]["regulations"] = {"issued": 1, "repealed": None, "in_force": 3}
    rec["applications"]["granted"][6] = None
    assert "规章 | 1 |  | 3 |" in render(rec, "pipe", rng=1, noise=False)
    for seed in range(5):
        doc = lxml_html.fromstring(render(rec, "html", rng=seed, noise=False))
        grids = [_expand(t) for t in doc.findall(".//table") if len(t.findall(".//td")) > 20]
        assert [c.strip() for c in grids[0][2]] == ["规章", "1", "", "3"]
        assert grids[1][5][-1].strip() == "" and grids[1][5][1].endswith("予以公开")
    pdf = _plain(render(rec, "pdf_text", rng=1, noise=False))
    assert re.search(r"规章 1 3\n", pdf)  # a blank disappears from PDF text


def test_metadata_is_printed_in_every_layout():
    for seed in range(40):
        rec = random_record(random.Random(seed), admin_level="county")
        for layout in LAYOUTS:
            flat = _squash(render(rec, layout, rng=seed))
            if rec["index_number"]:
                assert rec["index_number"] in flat, layout
            if rec["published_date"]:
                y, m, d = rec["published_date"].split("-")
                assert rec["published_date"] in flat or f"{y}年{int(m)}月{int(d)}日" in flat, layout


def test_spam_replaces_site_name():
    rec = random_record(random.Random(25), admin_level="township")
    text = render(rec, "cell_per_line", rng=2, spam=True)
    assert any(s in text for s in NOISE_SPAM)
    assert not any(s in render(rec, "cell_per_line", rng=2) for s in NOISE_SPAM)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encodings_round_trip(encoding):
    for layout in LAYOUTS:
        rec = random_record(random.Random(30))
        data = render_bytes(rec, layout, rng=3, encoding=encoding)
        text = render(rec, layout, rng=3)
        decoded = data.decode(encoding)
        if encoding == "utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        if encoding == "gbk":
            text = text.replace("\xa0", " ")
        if layout == "html":
            label = "utf-8" if encoding == "utf-8-sig" else encoding
            assert f'<meta charset="{label}">' in decoded
            decoded = decoded.replace(f'<meta charset="{label}">', '<meta charset="utf-8">')
        assert decoded == text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=records(), layout=layouts())
def test_strategy_records_are_consistent_and_render(rec, layout):
    _check_sum_rules(rec)
    text = render(rec, layout)
    if layout != "flattened":
        assert _parse(text, rec["format_version"]) == _as_floats(rec)


def test_speed_report():
    rng = random.Random(0)
    n = 600
    start = time.perf_counter()
    recs = [random_record(rng) for _ in range(n)]
    made = time.perf_counter()
    for i, rec in enumerate(recs):
        render(rec, LAYOUTS[i % len(LAYOUTS)], rng=rng)
    done = time.perf_counter()
    per_record = (made - start) / n * 1e6
    per_render = (done - made) / n * 1e6
    print(f"\nrender speed: random_record {per_record:.0f} us, render {per_render:.0f} us "
          f"-> 100,000 reports ~{(per_record + per_render) / 10:.0f} s")
