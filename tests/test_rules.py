"""One test per finding rule of the spec, and per layout quirk: a clean rendered report raises nothing; one edit
raises exactly the rule it should, on the cell it should."""

from __future__ import annotations

import random
import re

import pytest

from tasks.parse.cells import classify, fused_cells, line_cells, split_with_sums
from tasks.parse.documents import Document, parse_documents
from tasks.synth.render import random_record, render

ERRORS = {"applications_row_total_mismatch", "applications_column_identity_mismatch", "applications_detail_sum_mismatch",
          "review_litigation_total_mismatch"}


def _record(version: str = "2021", **kw) -> dict:
    rec = random_record(random.Random(21), format_version=version, admin_level="prefectural", **kw)
    rec["applications"]["new_received"] = [3, 1, 0, 0, 0, 0, 4]
    rec["applications"]["carried_over"] = [1, 0, 0, 0, 0, 0, 1]
    for key in rec["applications"]:
        if key not in ("new_received", "carried_over"):
            rec["applications"][key] = [0] * 7
    rec["applications"]["granted"] = [2, 1, 0, 0, 0, 0, 3]
    rec["applications"]["total"] = [2, 1, 0, 0, 0, 0, 3]
    rec["applications"]["carried_forward"] = [2, 0, 0, 0, 0, 0, 2]
    rec["review_litigation"] = [1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    return rec


def _parse(text: str) -> dict:
    return parse_documents([Document("t.txt", text.encode())]).records[0]


def _rules(got: dict) -> set[str]:
    return {f["rule"] for f in got["findings"]}


def _pipe_row(text: str, label: str, values: list) -> str:
    """Replace the numbers of the pipe row whose label contains `label`."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if label in line and "|" in line:
            cells = line.split("|")
            labels = [c for c in cells if c.strip() and not re.fullmatch(r"\s*\d+\s*", c)]
            lines[i] = " | ".join(labels) + " | " + " | ".join(str(v) for v in values) + " |"
            return "\n".join(lines)
    raise AssertionError(f"no pipe row {label}")


@pytest.fixture(scope="module")
def clean() -> str:
    return render(_record(), "pipe", rng=1, noise=False)


def test_clean_report_raises_nothing(clean):
    got = _parse(clean)
    assert _rules(got) == set()
    assert got["applications"]["new_received"] == [3, 1, 0, 0, 0, 0, 4]


def test_row_total_mismatch(clean):
    got = _parse(_pipe_row(clean, "本年新收", [3, 1, 0, 0, 0, 0, 5]))
    f = [f for f in got["findings"] if f["rule"] == "applications_row_total_mismatch"]
    assert len(f) == 1 and f[0]["row"] == "new_received" and f[0]["expected"] == "4" and f[0]["actual"] == "5"


def test_column_identity_mismatch(clean):
    got = _parse(_pipe_row(clean, "上年结转", [2, 0, 0, 0, 0, 0, 2]))
    f = [f for f in got["findings"] if f["rule"] == "applications_column_identity_mismatch"]
    assert {x["column"] for x in f} == {"natural_person", "total"}


def test_detail_sum_mismatch(clean):
    got = _parse(_pipe_row(clean, "予以公开", [1, 1, 0, 0, 0, 0, 2]))
    rules = _rules(got)
    assert "applications_detail_sum_mismatch" in rules
    f = [f for f in got["findings"] if f["rule"] == "applications_detail_sum_mismatch"]
    assert {x["column"] for x in f} == {"natural_person", "total"}


def test_review_litigation_total_mismatch(clean):
    lines = clean.split("\n")
    i = next(i for i, line in enumerate(lines) if re.fullmatch(r"[\d |]+", line.strip()) and line.count("|") >= 15)
    lines[i] = " | ".join(["1", "0", "0", "0", "2", *["0"] * 10]) + " |"
    got = _parse("\n".join(lines))
    f = [f for f in got["findings"] if f["rule"] == "review_litigation_total_mismatch"]
    assert len(f) == 1 and f[0]["row"] == "review" and f[0]["expected"] == "1" and f[0]["actual"] == "2"


@pytest.mark.parametrize(("cut_at", "rule"), [("四、政府信息公开行政复议", "review_litigation_incomplete"),
                                              ("三、", "applications_incomplete"),
                                              ("行政处罚", "active_disclosure_incomplete")])
def test_incomplete_tables(clean, cut_at, rule):
    got = _parse(clean[:clean.index(cut_at) + 40])
    assert rule in _rules(got)


def test_unsupported_format_for_2018_and_for_non_reports():
    old = render(_record(), "pipe", rng=1, noise=False).replace("2021年", "2018年").replace("2022年", "2018年")
    old = re.sub(r"20(19|2\d)", "2018", old)
    assert "unsupported_format" in _rules(_parse(old))
    notice = "关于公布2023年政府信息公开工作年度报告的通知\n各单位：请于1月31日前报送年度报告。"
    got = _parse(notice)
    assert _rules(got) == {"unsupported_format"} and got["applications"] is None


def test_narrative_table_mismatch(clean):
    text = clean.replace("一、总体情况", "一、总体情况\n本年新收政府信息公开申请9件。", 1)
    f = [f for f in _parse(text)["findings"] if f["rule"] == "narrative_table_mismatch"]
    assert len(f) == 1 and f[0]["expected"] == "9" and f[0]["actual"] == "4" and f[0]["severity"] == "warning"



def test_narrative_figures_in_brackets(clean):
    """Seed 002's phrasing: 共办理…申请148件(含新收142件、上年结转6件)."""
    text = clean.replace("一、总体情况", "一、总体情况\n共办理政府信息公开申请9件(含新收4件、上年结转5件)。", 1)
    f = {x["row"]: x for x in _parse(text)["findings"] if x["rule"] == "narrative_table_mismatch"}
    assert set(f) == {"carried_over"} and (f["carried_over"]["expected"], f["carried_over"]["actual"]) == ("5", "1")

@pytest.mark.parametrize("spam", ["欢迎访问澳门葡京娱乐城", "负责开云体育(本镇子网站)日常维护", "通过九游会子网页公布了"])
def test_spam_injection(clean, spam):
    got = _parse(clean.replace("一、总体情况", "一、总体情况\n" + spam, 1))
    f = [f for f in got["findings"] if f["rule"] == "spam_injection"]
    assert len(f) == 1 and f[0]["severity"] == "warning"
    assert got["applications"]["new_received"] == [3, 1, 0, 0, 0, 0, 4]


def test_ambiguous_value_in_flattened_text():
    rec = _record()
    text = render(rec, "flattened", rng=1, noise=False)
    got = _parse(text)
    for f in got["findings"]:
        if f["rule"] == "ambiguous_value":
            assert f["field"], "an ambiguous cell is named"
            path = f["field"]
            assert path.startswith(("applications", "active_disclosure", "review_litigation"))
    assert not (_rules(got) & ERRORS)


def test_format_version_mixed(clean):
    rec19 = _record("2019")
    t19 = render(rec19, "pipe", rng=1, noise=False)
    mixed = t19[:t19.index("三、")] + clean[clean.index("三、"):]
    assert "format_version_mixed" in _rules(_parse(mixed))


def test_report_year_missing(clean):
    text = re.sub(r"20\d\d\s*年", "本年", clean)
    assert "report_year_missing" in _rules(_parse(text))


# --- layout quirks ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "kind", "value"), [
    ("12", "number", 12), ("1,234", "number", 1234), ("-5", "number", -5), ("2.5", "number", 2.5),
    ("251000元", "number", 251000), ("3 件", "number", 3), ("", "blank", None), ("—", "null", None),
    ("/", "null", None), ("无", "null", None), ("若干", "non_numeric", None), ("N/A", "non_numeric", None),
    ("规章", "text", None)])
def test_cell_kinds(token, kind, value):
    c = classify(token)
    assert c.kind == kind and c.value == value


def test_pipe_padding_is_not_a_cell():
    cells = line_cells("结果维持 | 结果纠正 | |||\n0 |  | 0 |")
    assert [c.kind for c in cells if not c.pad] == ["text", "text", "number", "blank", "number"]


def test_pdf_line_peels_numbers_off_the_label():
    cells = line_cells("1.属于国家秘密 0 1 2\n(三)不\n予公开 3")
    assert [c.kind for c in cells] == ["text", "number", "number", "number", "text", "text", "number"]


def test_page_marker_inside_a_table_is_dropped(clean):
    at = clean.index("上年结转")
    text = clean[:at] + "\n- 4 -\n第 4 页\n" + clean[at:]
    assert _parse(text)["applications"] == _parse(clean)["applications"]


def test_full_width_digits_and_spaces(clean):
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    row = next(line for line in clean.split("\n") if "本年新收" in line)
    text = clean.replace(row, row.split("|")[0] + "|" + "|".join(row.split("|")[1:]).translate(fw).replace(" ", "\u3000"))
    assert _parse(text)["applications"]["new_received"] == [3, 1, 0, 0, 0, 0, 4]


@pytest.mark.parametrize("vertical,horizontal,cross", [("|", "-", "+"), ("│", "─", "┼"), ("┃", "━", "╋"), ("║", "═", "╬")])
def test_tables_drawn_with_box_characters(clean, vertical, horizontal, cross):
    """Tables drawn in text (`│ 规章 │ 0 │` between `├──┼──┤` borders) read as their pipe rows do; a lone `─` in a cell
    is a dash (null)."""
    lines = []
    for line in clean.split("\n"):
        if "|" not in line:
            lines.append(line)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        lines.append(cross + cross.join(horizontal * (2 * len(c) + 2) for c in cells) + cross)
        lines.append(vertical + vertical.join(f" {c} " for c in cells) + vertical)
    got, want = _parse("\n".join(lines)), _parse(clean)
    assert {k: got[k] for k in ("active_disclosure", "applications", "review_litigation")} == \
        {k: want[k] for k in ("active_disclosure", "applications", "review_litigation")}
    assert not _rules(got)
    dashed = _pipe_row(clean, "行政许可", ["─"])
    assert _parse(dashed)["active_disclosure"]["licensing"] == {"decisions": None}


def test_fused_digits_split_by_the_sum_rules():
    assert split_with_sums("3100004", 1, 6) == [(3, 1, 0, 0, 0, 0, 4)]
    cands = split_with_sums("11112", 1, 4)
    assert (1, 1, 1, 1, 2) not in cands or len(cands) >= 1
    cells = fused_cells("规章000行政规范性文件6233440")
    assert [c.kind for c in cells] == ["text", "digits", "text", "digits"]
