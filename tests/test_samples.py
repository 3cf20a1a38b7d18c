"""The shared samples are the contract: every hand-read value, null vs 0, metadata and required finding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tasks.parse.documents import Document, parse_documents
from tests.conftest import REPO, SAMPLES, sample_labels

LABELS = sample_labels()


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    docs = [Document(source=str(path), data=path.read_bytes()) for _, _, path in LABELS]
    batch = parse_documents(docs)
    return {rec["source"]: rec for rec in batch.records}


@pytest.mark.parametrize(("name", "label", "path"), LABELS, ids=[n for n, _, _ in LABELS])
def test_sample_matches_hand_read_values(parsed, name, label, path):
    rec = parsed[str(path)]
    for table in ("active_disclosure", "applications", "review_litigation"):
        assert rec[table] == label[table], f"{name}: {table}"
    for key in ("year", "format_version", "admin_level", "published_date", "index_number", "province"):
        if label.get(key) is not None:
            assert rec[key] == label[key], f"{name}: {key}"
    if label.get("organ") is not None:
        assert label["organ"] in rec["organ"] or rec["organ"] in label["organ"]
    rules = {f["rule"] for f in rec["findings"]}
    assert set(label["must_flag"]) <= rules
    # nothing is flagged that the hand reading does not support: the samples' tables obey their rules
    assert not {r for r in rules if r.endswith("_mismatch")}, rules


def test_layouts_detected(parsed):
    for _name, label, path in LABELS:
        assert parsed[str(path)]["layout"] == label["layout"].replace("whitespace_cell_per_line", "whitespace_cell_per_line")


def test_truncated_fragment_reported_incomplete():
    path = SAMPLES / "real" / "huaian_2024_pdftext_fragment.txt"
    rec = parse_documents([Document(str(path), path.read_bytes())]).records[0]
    rules = {f["rule"] for f in rec["findings"]}
    assert "applications_incomplete" in rules
    apps = rec["applications"]
    # what the fragment printed is kept; what it cut off is not invented
    assert apps["new_received"] == [3001, 53, 0, 0, 61, 4, 3119]
    assert apps["unavailable_needs_creation"] == [None] * 7
    assert apps["total"] == [None] * 7
    assert rec["review_litigation"] is None


def test_cli_scored_like_the_judge():
    score = SAMPLES.parent / "tools" / "score_parse.py"
    exe = [sys.executable, "-m", "flows.cli", "parse", "--json"]
    proc = subprocess.run([sys.executable, str(score), "--labels", str(SAMPLES / "expected"), "--raw", str(SAMPLES), "--", *exe],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "values " in proc.stdout and "guesses 0" in proc.stdout


def test_cli_unreadable_file_still_gets_its_line(tmp_path):
    missing = tmp_path / "nope.txt"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "parse", "--json", str(missing), str(empty)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["source"] for x in lines] == [str(missing), str(empty)]
    assert lines[0]["findings"][0]["rule"] == "unreadable_file"
    assert lines[1]["findings"][0]["rule"] == "unsupported_format"


# ---------------------------------------------------------------------------------------------------------------
# The real PDF text with table 3 as other extractors lay it out. A wrapped label's numbers stand beside its first
# line (a cell aligned to the top), a middle line (centred: pdftotext -layout), its last line or on their own.

HUAIAN = SAMPLES / "real" / "huaian_2024_pdftext.txt"
HUAIAN_LABEL = json.loads((SAMPLES / "expected" / "huaian_2024_pdftext.json").read_text(encoding="utf-8"))
_GROUPS = {"denied_state_secret": "（三）不予公开", "unavailable_not_held": "（四）无法提供",
           "not_processed_petition": "（五）不予处理", "other_no_correction": "（六）其他处理"}


def _huaian_with_table_3(width: int, where: str) -> str:
    from schemas.form import APPLICATION_ROWS

    text = HUAIAN.read_text(encoding="utf-8")
    start, end = text.index("三、收到和处理政府信息公开申请情况"), text.index("四、政府信息公开行政复议、行政诉讼情况")
    lines = ["三、收到和处理政府信息公开申请情况", "（本列数据的勾稽关系为：第一项加第二项之和，", "等于第三项加第四项之和）",
             "申请人情况", "自然人", "法人或其他组织", "总计", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]
    for n, row in enumerate(APPLICATION_ROWS["2021"]):
        if row.key == "granted":
            lines.append("三、本年度办理结果")
        label = _GROUPS.get(row.key, "") + row.label.replace("(", "（").replace(")", "）")
        parts = [label[i:i + width] for i in range(0, len(label), width)]
        nums = " ".join(str(v) for v in HUAIAN_LABEL["applications"][row.key])
        at = {"first": 0, "middle": len(parts) // 2, "last": len(parts) - 1, "own": None}[where]
        lines += [p + (f" {nums}" if j == at else "") for j, p in enumerate(parts)]
        if at is None:
            lines.append(nums)
        if n == 12:
            lines.append("- 5 -")
    return text[:start] + "\n".join(lines) + "\n" + text[end:]


@pytest.mark.parametrize("where", ["first", "middle", "last", "own"])
@pytest.mark.parametrize("width", [9, 12, 15])
def test_pdf_numbers_beside_any_line_of_a_wrapped_label(width, where):
    text = _huaian_with_table_3(width, where)
    rec = parse_documents([Document("huaian.txt", text.encode())]).records[0]
    assert rec["applications"] == HUAIAN_LABEL["applications"]
    assert rec["format_version"] == "2021"
    assert not {f["rule"] for f in rec["findings"]}


def test_form_words_broken_over_lines_still_tell_the_version():
    """`收费通\\n知`, `缴纳\\n费用` and `逾期不补\\n正` broken in table 3, table 2's headers broken too: still the 2021 form
    (the (六) rows are three, not the 2019 form's one)."""
    text = HUAIAN.read_text(encoding="utf-8")
    broken = (text.replace("2、申请人逾期未按收费通知要\n求缴纳费用", "2、申请人逾期未按收费通\n知要求缴纳\n费用")
              .replace("本年制发件数 本年废止件数 现行有效件数", "本年制发\n件数 本年废止\n件数 现行有效\n件数")
              .replace("本年收费金额", "本年收费\n金额"))
    assert broken.count("\n") == text.count("\n") + 5
    rec = parse_documents([Document("huaian.txt", broken.encode())]).records[0]
    assert rec["applications"] == HUAIAN_LABEL["applications"]
    assert rec["active_disclosure"] == HUAIAN_LABEL["active_disclosure"]
    assert not {f["rule"] for f in rec["findings"]}


def _huaian_headed(head: str, period: str) -> dict:
    """The huaian report parsed with its first lines (page marker, organ, title) replaced by `head` and its
    statistics period sentence by `period`."""
    text = HUAIAN.read_text(encoding="utf-8")
    first = "- 1 -\n淮安市人民政府\n2024 年政府信息公开工作年度报告\n"
    original = "报告所列统计期限自 2024 年 1 月 1 日至 2024 年 12 月 31 日。"
    assert text.startswith(first) and original in text
    text = head + text[len(first):].replace(original, period)
    return parse_documents([Document("huaian.txt", text.encode())]).records[0]


@pytest.mark.parametrize("title", [
    "淮安市人民政府2024年政府信息公开工作年度报告",
    "淮安市人民政府2024年度政府信息公开工作报告",
    "淮安市人民政府政府信息公开工作年度报告（2024年）",
    "淮安市人民政府关于二〇二四年政府信息公开工作年度报告",
])
def test_title_variants_give_the_year_and_the_organ(title):
    """The title's organ and year, the statistics period removed so the year must come from the title."""
    rec = _huaian_headed(title + "\n", "")
    assert (rec["year"], rec["organ"], rec["admin_level"]) == (2024, "淮安市人民政府", "prefectural")


@pytest.mark.parametrize("style", ["pipe", "pdf"])
def test_table_4_printed_a_group_a_row(style):
    """Some reports print table 4 with a row per group (行政复议, then the two kinds of suit) instead of the form's
    one row of 15; with a group's row missing the table is incomplete, nothing shifted."""
    text = HUAIAN.read_text(encoding="utf-8")
    start, end = text.index("四、政府信息公开行政复议、行政诉讼情况"), text.index("五、存在的主要问题及改进情况")
    values = HUAIAN_LABEL["review_litigation"]
    rows = [("", ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]), ("行政复议", values[0:5]),
            ("行政诉讼（未经复议直接起诉）", values[5:10]), ("行政诉讼（复议后起诉）", values[10:15])]
    if style == "pipe":
        lines = [f"| {label} | " + " | ".join(map(str, cells)) + " |" for label, cells in rows]
    else:
        lines = [f"{label} " + " ".join(map(str, cells)) for label, cells in rows]
    table = "四、政府信息公开行政复议、行政诉讼情况\n" + "\n".join(lines) + "\n"
    rec = parse_documents([Document("huaian.txt", (text[:start] + table + text[end:]).encode())]).records[0]
    assert rec["review_litigation"] == values and not rec["findings"]
    cut = table.replace(lines[2] + "\n", "")
    rec = parse_documents([Document("huaian.txt", (text[:start] + cut + text[end:]).encode())]).records[0]
    assert rec["review_litigation"] is None
    assert "review_litigation_incomplete" in {f["rule"] for f in rec["findings"]}


def test_label_wording_variants():
    """Wordings seen beside the form's: 不掌握相关的政府信息 (an extra 的)."""
    text = HUAIAN.read_text(encoding="utf-8")
    varied = text.replace("1.本机关不掌握相关政府信息", "1.本机关不掌握相关的政府信息")
    assert varied != text
    rec = parse_documents([Document("huaian.txt", varied.encode())]).records[0]
    assert rec["applications"] == HUAIAN_LABEL["applications"] and not rec["findings"]


@pytest.mark.parametrize("period", [
    "报告所列统计期限自 2024 年 1 月 1 日至 2024 年 12 月 31 日。",
    "报告所列数据统计期限为2024年01月01日至2024年12月31日。",
    "本报告所列数据统计期限为2024年度。",
    "统计时间为2024.1.1-2024.12.31。",
    "统计期限：2024-01-01至2024-12-31。",
])
def test_statistics_period_phrasings_give_the_year(period):
    """The title without its year: the statistics period alone tells 2024 (the body first names the 2025 plan)."""
    rec = _huaian_headed("淮安市人民政府\n政府信息公开工作年度报告\n2025年政务公开工作要点另行发布。\n", period)
    assert rec["year"] == 2024


@pytest.mark.parametrize(("signed", "date"), [("2025年1月22日", "2025-01-22"), ("二〇二五年一月二十二日", "2025-01-22"),
                                              ("二〇二四年十二月三十一日", "2024-12-31")])
def test_signature_date_is_the_published_date(signed, date):
    text = HUAIAN.read_text(encoding="utf-8").rstrip() + f"\n淮安市人民政府办公室\n{signed}\n"
    rec = parse_documents([Document("huaian.txt", text.encode())]).records[0]
    assert rec["published_date"] == date and rec["year"] == 2024


def test_table_dumped_a_column_at_a_time_gives_no_values():
    """An extractor that writes every label first, then the numbers a column at a time: 175 numbers follow the
    last label. They are no row's (not even their first 7): the table is incomplete, no value is wrong."""
    from schemas.form import APPLICATION_ROWS

    text = HUAIAN.read_text(encoding="utf-8")
    start, end = text.index("三、收到和处理政府信息公开申请情况"), text.index("四、政府信息公开行政复议、行政诉讼情况")
    rows = APPLICATION_ROWS["2021"]
    lines = ["三、收到和处理政府信息公开申请情况", "申请人情况", "自然人 商业企业 科研机构 社会公益组织 法律服务机构 其他 总计"]
    lines += [row.label for row in rows]
    lines += [str(HUAIAN_LABEL["applications"][row.key][j]) for j in range(7) for row in rows]
    rec = parse_documents([Document("huaian.txt", (text[:start] + "\n".join(lines) + "\n" + text[end:]).encode())]).records[0]
    assert all(v is None for vals in rec["applications"].values() for v in vals)
    assert {f["rule"] for f in rec["findings"]} == {"applications_incomplete"}


@pytest.mark.parametrize("pipes", [True, False], ids=["pipes_kept", "pipes_dropped"])
@pytest.mark.parametrize(("name", "label", "path"), LABELS, ids=[n for n, _, _ in LABELS])
def test_sample_with_every_line_break_lost(name, label, path, pipes):
    """Every sample as a crawler's get_text(" ") gives it: one line, cells and lines separated by single spaces
    (with or without the pipes). The same hand-read values."""
    import re

    from tasks.parse.decode import decode_bytes

    text = decode_bytes(path.read_bytes()).text
    text = re.sub(r"(?m)^- \d+ -$", "", text)  # (a PDF's page markers: on one line they are no longer markers)
    one_line = " ".join((text if pipes else text.replace("|", " ")).split())
    rec = parse_documents([Document(name, one_line.encode())]).records[0]
    for table in ("active_disclosure", "applications", "review_litigation"):
        assert rec[table] == label[table], f"{name}: {table}"
    for key in ("year", "format_version", "admin_level", "province"):
        if label.get(key) is not None:
            assert rec[key] == label[key], f"{name}: {key}"
    assert label["organ"] is None or rec["organ"] == label["organ"] or rec["organ"] == label["organ"] + "人民政府"
    assert set(label["must_flag"]) <= {f["rule"] for f in rec["findings"]}


def _cells_against_label(rec: dict, label: dict) -> list[tuple]:
    """(read, hand-read) for every cell of the three tables, in form order; a table or row not read gives None."""
    pairs: list[tuple] = []
    for table in ("active_disclosure", "applications"):
        for key, values in label[table].items():
            row = (rec[table] or {}).get(key)
            want = list(values.values()) if isinstance(values, dict) else values
            got = list(row.values()) if isinstance(row, dict) else row or [None] * len(want)
            pairs += zip(got, want, strict=True)
    pairs += zip(rec["review_litigation"] or [None] * 15, label["review_litigation"] or [None] * 15, strict=True)
    return pairs


@pytest.mark.parametrize(("name", "label", "path"), LABELS, ids=[n for n, _, _ in LABELS])
def test_sample_with_every_separator_lost(name, label, path):
    """Every sample flattened (white space and pipes dropped: 规章000行政规范性文件…): each value is the hand-read one
    or null with an ambiguous_value finding, never another; year, form and organ as read by hand."""
    import re

    from tasks.parse.decode import decode_bytes

    text = re.sub(r"(?m)^- \d+ -$", "", decode_bytes(path.read_bytes()).text)
    rec = parse_documents([Document(name, re.sub(r"[\s|]+", "", text).encode())]).records[0]
    assert rec["layout"] == "flattened"
    cells = _cells_against_label(rec, label)
    assert all(g is None or g == w for g, w in cells), name
    if any(g is None and w is not None for g, w in cells):
        assert "ambiguous_value" in {f["rule"] for f in rec["findings"]}
    assert (rec["year"], rec["format_version"]) == (label["year"], label["format_version"])
    assert label["organ"] is None or rec["organ"] == label["organ"] or rec["organ"] == label["organ"] + "人民政府"


@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
def test_a_file_cut_inside_a_number_gives_no_wrong_value(html):
    """Every sample cut short inside one of its table numbers (行政处罚 3985 of 3985758), as text and as an HTML page:
    no value other than the hand-read one (the cut number is kept only where a sum rule confirms it), and the table
    the file ends in is incomplete."""
    import html as html_lib
    import re

    from tasks.parse.decode import decode_bytes

    docs, labels = [], []
    for name, label, path in LABELS:
        text = decode_bytes(path.read_bytes()).text
        if html:  # pipe lines become table rows, other lines paragraphs
            text = "".join(
                "<table><tr>" + "".join(f"<td>{html_lib.escape(c.strip())}</td>" for c in line.strip().strip("|").split("|"))
                + "</tr></table>\n" if "|" in line else f"<p>{html_lib.escape(line)}</p>\n" for line in text.split("\n"))
        start = text.index("二、") if "二、" in text else 0
        end = text.find("五、", start) % (len(text) + 1)  # the table sections (to the end where 五 is missing)
        inside = [m.start() + 1 for m in re.finditer(r"\d(?=\d)", text) if start < m.start() < end]
        for cut in inside[::max(1, len(inside) // 12)]:
            docs.append(Document(f"{name}@{cut}", text[:cut].encode()))
            labels.append(label)
    assert len(docs) > 30
    for doc, rec, label in zip(docs, parse_documents(docs).records, labels, strict=True):
        assert all(g is None or g == w for g, w in _cells_against_label(rec, label)), doc.source
        assert any(f["rule"].endswith("_incomplete") for f in rec["findings"]), doc.source


def test_a_table_3_value_printed_twice_is_never_shifted():
    """One-cell-a-line samples with a value line of table 3 printed twice: the row is read by its sum rules (the
    first 7 cells when they keep them, else the one other reading that does), or the cells its readings disagree
    on are ambiguous; no value is shifted into another column."""
    import re

    from tasks.parse.decode import decode_bytes

    docs, labels = [], []
    for name, label, path in LABELS:
        lines = decode_bytes(path.read_bytes()).text.split("\n")
        if label["layout"] not in ("cell_per_line", "whitespace_cell_per_line"):
            continue
        start = next(i for i, line in enumerate(lines) if "本年新收" in line)
        end = next(i for i, line in enumerate(lines) if "结转下年度" in line)
        numeric = [i for i in range(start, end) if re.fullmatch(r"[\s\u00a0]*\d+[\s\u00a0|]*", lines[i])]
        for i in numeric[::3]:
            docs.append(Document(f"{name}#{i}", "\n".join(lines[:i + 1] + lines[i:]).encode()))
            labels.append(label)
    assert len(docs) > 50
    for doc, rec, label in zip(docs, parse_documents(docs).records, labels, strict=True):
        ambiguous = {f["field"] for f in rec["findings"] if f["rule"] == "ambiguous_value"}
        for key, want in label["applications"].items():
            got = rec["applications"][key]
            for j, (g, w) in enumerate(zip(got, want, strict=True)):
                assert g == w or (g is None and f"applications.{key}[{j}]" in ambiguous), (doc.source, key, got, want)
