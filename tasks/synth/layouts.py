"""The layouts a report is published in, drawn from its blocks (narrative.py) and grids (grids.py): the text
layouts (pipe, cell_per_line, whitespace_cell_per_line, flattened), pdf_text (a PDF's text layer as extracted)
and html (a portal page)."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

from schemas.form import (
    APPLICANT_LABELS,
    REVIEW_GROUP_LABELS,
    REVIEW_OUTCOME_LABELS,
    SECTION_TITLES,
)
from tasks.synth.grids import (
    _NCOLS,
    _ONE,
    _OTHER_SUB_ROWS,
    _SIX_MERGED,
    _T3_APPLICANT_HEAD,
    _T3_NOTE,
    _T3_ORG_HEAD,
    _T3_RESULTS,
    _T4_SUIT_HEAD,
    Row,
    _damaged_key,
    _drop_chars,
    _merged_six,
    _six_total,
    _t2_grid,
    _t3_layout,
    _t3_plan,
    _tables,
)
from tasks.synth.narrative import _blocks
from tasks.synth.style import _Style

_CJK_DIGIT = re.compile(r"(?<=[\u4e00-\u9fff])(?=\d)|(?<=\d)(?=[\u4e00-\u9fff])")
_META_CHARSET = '<meta charset="utf-8">'

# --------------------------------------------------------------------------------------------------------------
# Layouts.
# --------------------------------------------------------------------------------------------------------------


def _pipe_table(grid: list[Row], ncols: int, st: _Style) -> list[str]:
    lines = []
    last = len(grid) - 1
    brk = st.brk
    for i, (texts, _spans, fixed, head) in enumerate(grid):
        if st.nbsp_pad and not head:
            texts = texts[:fixed] + ["\xa0" + t if t else t for t in texts[fixed:]]
        s = " | ".join(texts) + " |"
        if head:
            s = s.replace("\n", brk)
        miss = ncols - len(texts)
        if miss > 0 and i != last:  # seeds 003/004: the last row carries no padding
            s += " " + "|" * miss
        lines.append(s)
    return lines


def _cell_table(grid: list[Row], ncols: int, st: _Style) -> list[str]:
    lines = []
    last = len(grid) - 1
    brk = st.brk
    for i, (texts, _spans, fixed, head) in enumerate(grid):
        if head:
            texts = [t.replace("\n", brk) for t in texts]
        elif st.nbsp_pad:
            texts = texts[:fixed] + ["\xa0" + t if t else t for t in texts[fixed:]]
        s = " |\n".join(texts) + " |"
        miss = ncols - len(texts)
        if miss > 0 and i != last:
            s += ("\n" if st.own_pad_line else " ") + "|" * miss  # seed 001 / seed 000
        lines.append(s)
    return lines


_WS_INDENTS = ("", " ", "\xa0", "\xa0 ", " \xa0 ", "\xa0 \xa0 \xa0 ", "\xa0 \xa0 \xa0 \xa0 \xa0 \xa0 ")


def _ws_table(grid: list[Row], st: _Style) -> list[str]:
    """Seed 002: a cell per line, blank lines between, NBSP indentation, header words broken over lines."""
    rnd = st.rng.random
    lines = []
    noisy = st.noise
    for texts, _spans, fixed, head in grid:
        if head:
            for t in texts:
                lines.append(("\xa0 " * int(rnd() * 12) if noisy else "") + t.replace("\n", "\n\n"))
            continue
        lines.extend(texts[:fixed])
        for t in texts[fixed:]:
            if not t:
                lines.append("\xa0")  # a blank cell: a whitespace-only line
            elif noisy:
                i = int(rnd() * 14)
                lines.append((_WS_INDENTS[i] if i < 7 else "") + t + ("\xa0" if i & 1 else ""))
            else:
                lines.append(t)
    return lines


def _flat_table(grid: list[Row]) -> str:
    return "".join("".join(row[0]) for row in grid).replace("\n", "")


def _meta_pipe(meta: tuple[str | None, str | None, str | None], st: _Style) -> list[str]:
    idx, organ, date = meta
    cells = []
    if idx:
        cells += ["索引号:", idx]
    if organ:
        cells += ["发布机构:", organ]
    if date:
        cells += [st.rng.choice(("成文日期:", "发布日期:", "公开日期:")), date]
    return [" | ".join(cells) + " |", "公开方式: | 主动公开 | 公开时限: | 长期公开 |"] if st.rng.random() < 0.5 else [
        " | ".join(cells) + " |"]


def _source_line(data: tuple[str, str], st: _Style) -> str:
    organ, date = data
    rng = st.rng
    return f"来源:{organ} 发布时间:{date} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} 【字体:大 中 小】"


def _render_text(rec: dict[str, Any], st: _Style, layout: str) -> str:
    """pipe, cell_per_line, whitespace_cell_per_line and flattened."""
    blocks = _blocks(rec, st, layout)
    tables = _tables(rec, st)
    rng = st.rng
    ws = layout == "whitespace_cell_per_line"
    flat = layout == "flattened"
    fuse = rng.choice(("tables", "tables", "paragraphs", "all")) if flat else ""
    out: list[str] = []
    p = st.p
    prev = ""
    for kind, data in blocks:
        fuse_para = fuse == "paragraphs" and kind == "para" and prev == "para"
        prev = kind
        if kind == "table":
            grid = tables[data]
            if flat:
                out.append(_flat_table(grid))
            elif layout == "pipe":
                out.extend(_pipe_table(grid, _NCOLS[data], st))
            elif layout == "cell_per_line":
                out.extend(_cell_table(grid, _NCOLS[data], st))
            else:
                out.extend(_ws_table(grid, st))
        elif kind == "para":
            text = p(data)
            if ws and st.noise and rng.random() < 0.3:
                text += " \xa0"
            if fuse_para:
                out[-1] += text
            else:
                out.append(text)
        elif kind == "heading":
            out.append(data)
        elif kind == "title":
            out.append(data[0] + data[1])
        elif kind == "meta":
            if flat:
                out.append("".join(x.replace(" | ", "").rstrip(" |") for x in _meta_pipe(data, st)))
            else:
                out.extend(_meta_pipe(data, st))
        elif kind == "source":
            out.append(_source_line(data, st))
        elif kind == "image":
            out.append(data)
        elif kind in ("sign", "foot", "crumb"):
            out.extend([data] if isinstance(data, str) else data)
    if fuse == "all":
        head = 0
        while head < len(out) and not out[head].startswith(SECTION_TITLES[0][:2]):
            head += 1
        return "\n".join(out[:head] + ["".join(out[head:])]) + "\n"
    sep = "\n\n" if ws else "\n"
    return sep.join(out) + "\n"


# --- pdf_text ------------------------------------------------------------------------------------------------


def _pdf_wrap(text: str, width: int) -> list[str]:
    """Fixed-width lines as a PDF extractor gives them, never splitting a run of digits; no edge spaces."""
    out = []
    i = 0
    n = len(text)
    while n - i > width:
        j = i + width
        while j > i + 1 and text[j - 1].isdigit() and text[j].isdigit():
            j -= 1
        out.append(text[i:j].strip())
        i = j
    if i < n:
        out.append(text[i:].strip())
    return [line for line in out if line]


def _spaced_chars(rng: random.Random, text: str) -> str:
    return " ".join(text) if rng.random() < 0.4 else text


def _pdf_t3(rec: dict[str, Any], st: _Style) -> list[str]:
    rng = st.rng
    version = rec["format_version"]
    apps = rec["applications"]
    note = st.p(_T3_NOTE)
    cut = note.find("," if not st.fw_punct else "，", len(note) // 2) + 1 or len(note) // 2
    lines = [note[:cut], note[cut:], _T3_APPLICANT_HEAD, APPLICANT_LABELS[0], _T3_ORG_HEAD]
    org = []
    for lab in APPLICANT_LABELS[1:5]:
        k = rng.randint(2, len(lab) - 1)
        org += [_spaced_chars(rng, lab[:k]), lab[k:]]
    if rng.random() < 0.6:  # huaian: 总计 fused with the first org header
        org[0] = APPLICANT_LABELS[6] + org[0]
        lines += org + [APPLICANT_LABELS[5]]
    else:
        lines += org + [APPLICANT_LABELS[5], APPLICANT_LABELS[6]]
    label_w = rng.randint(13, 16)
    wide_w = label_w + 6
    damaged = _damaged_key(rec, st)
    pending_group: list[str] = []
    close = "）" if st.fw_punct else ")"
    nums_of = st.nums
    for (key, glabel, label, _run, first, _six), (_, labels, _spans) in zip(
            _t3_layout(version), _t3_plan(version, st.fw_punct, st.six_sep), strict=True):
        nums = " ".join(filter(None, nums_of(apps.get(key) or ())))
        if key in _OTHER_SUB_ROWS and _merged_six(rec, st):
            if key == _OTHER_SUB_ROWS[0]:
                lines.append(st.p(_SIX_MERGED) + " " + " ".join(filter(None, nums_of(_six_total(apps)))))
            continue
        if key == damaged:
            labels = (*labels[:-1], _drop_chars(labels[-1], rng))
        if first:
            lines.append(_T3_RESULTS[:2])
            lines.extend(_T3_RESULTS[2:])
        prefix = ""
        if glabel:
            g = labels[-2]
            k = g.index(close) + 2
            if rng.random() < 0.5:
                lines += [g[:k], g[k:]]
            else:  # huaian: (四)无 1.本机关… / 法提供 2.没有…
                prefix = g[:k] + " "
                pending_group = [g[k:] + " "]
        elif pending_group:
            prefix = pending_group.pop()
        text = labels[-1]
        if key in ("new_received", "carried_over", "carried_forward", "total") or len(text) <= label_w:
            parts = [text]
        else:
            parts = _pdf_wrap(text, label_w if label[:1].isdigit() else wide_w)
        parts[0] = prefix + parts[0]
        # a wrapped label's numbers: on a line of their own, or beside its first line (a cell aligned to the top),
        # a middle line (centred: pdftotext -layout) or its last line
        at = len(parts) - 1
        if len(parts) > 1:
            r = rng.random()
            at = None if r < 0.4 else 0 if r < 0.55 else len(parts) // 2 if r < 0.7 else at
        if not nums:
            lines += parts
        elif at is None:
            lines += parts + [nums]
        else:
            lines += parts[:at] + [parts[at] + " " + nums] + parts[at + 1:]
    return lines


def _pdf_t4(rec: dict[str, Any], st: _Style) -> list[str]:
    rng = st.rng
    lines = [f"{REVIEW_GROUP_LABELS[0]} {_T4_SUIT_HEAD}"]

    def outcome_heads() -> list[str]:
        out = []
        for lab in REVIEW_OUTCOME_LABELS:
            if len(lab) > 2 and rng.random() < 0.8:
                k = rng.randint(2, len(lab) - 1)
                out += [_spaced_chars(rng, lab[:k]), lab[k:]]
            else:
                out.append(lab)
        return out

    lines += outcome_heads()
    lines.append(f"{REVIEW_GROUP_LABELS[1]} {REVIEW_GROUP_LABELS[2]}")
    lines += outcome_heads() + outcome_heads()
    vals = " ".join(filter(None, st.nums(rec.get("review_litigation") or ())))
    if vals:
        lines.append(vals)
    return lines


def _pdf_t2(rec: dict[str, Any], st: _Style) -> list[str]:
    lines = []
    for texts, _spans, _fixed, _head in _t2_grid(rec, st):
        if len(texts) == 1:  # 第二十条第(一)项 -> 第二十条 第（一）项
            lines.append(texts[0].replace("条第", "条 第"))
        else:
            lines.append(" ".join(t for t in texts if t))
    return lines


def _render_pdf(rec: dict[str, Any], st: _Style) -> str:
    rng = st.rng
    width = rng.randint(28, 33)
    lines: list[str] = []
    for kind, data in _blocks(rec, st, "pdf_text"):
        if kind == "para":
            lines += _pdf_wrap(_CJK_DIGIT.sub(" ", st.p(data)), width)
        elif kind == "heading":
            lines.append(st.p(data))
        elif kind == "title":
            organ, rest = data
            rest = _CJK_DIGIT.sub(" ", rest)
            if not organ:  # the year first: broken after the organ, or on one line
                k = rest.rfind("政府信息公开")
                lines += [rest[:k], rest[k:]] if rng.random() < 0.5 else [rest]
            else:
                lines += [organ, rest] if rng.random() < 0.7 else [organ + rest]
        elif kind == "table":
            lines += {"t2": _pdf_t2, "t3": _pdf_t3, "t4": _pdf_t4}[data](rec, st)
        elif kind == "sign":
            lines += data
        elif kind == "pdfmeta":
            lines.append(f"索引号：{data}" if st.fw_punct else f"索引号:{data}")
    # Page markers on their own line at each page top, inside tables too (huaian: "- 4 -").
    out = []
    page = 1
    per_page = rng.randint(32, 38)
    for i, line in enumerate(lines):
        if i % per_page == 0:
            out.append(f"- {page} -")
            page += 1
        out.append(line)
    return "\n".join(out) + "\n"


# --- html ----------------------------------------------------------------------------------------------------

_HTML_SCRIPTS = (
    "var _hmt = _hmt || [];(function() {var hm = document.createElement('script');hm.src = 'https://hm.baidu.com/hm.js?{h}';var s = document.getElementsByTagName('script')[0];s.parentNode.insertBefore(hm, s);})();",
    "$(function(){ $('.share a').on('click', function(){ return false; }); var id = '{h}'; });",
)


@lru_cache(maxsize=512)
def _td_opens(spans: tuple[tuple[int, int], ...], fixed: int, pre: str) -> tuple[tuple[str, ...], bool]:
    """Opening tags per cell, and whether every value cell is a plain 1x1 cell (joined in one go)."""
    opens = tuple("<td" + (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "") + ">" + pre
                  for rs, cs in spans)
    return opens, all(sp == _ONE for sp in spans[fixed:])


def _html_table(grid: list[Row], st: _Style) -> str:
    rng = st.rng
    nbsp = st.noise and rng.random() < 0.3
    blank = "&nbsp;" if rng.random() < 0.3 else ""
    pre, post = ('<p style="text-align:center"><span>', "</span></p>") if rng.random() < 0.4 else ("", "")
    br = "<br>" if rng.random() < 0.7 else "<br/>"
    close = post + "</td>"
    open1 = "<td>" + pre
    parts = ['<table border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse;width:100%"><tbody>']
    for texts, spans, fixed, _head in grid:
        opens, plain = _td_opens(spans, fixed, pre)
        row = "<tr>" + "".join([opens[j] + texts[j].replace("\n", br) + close for j in range(fixed)])
        vals = texts[fixed:]
        if nbsp:
            vals = [("&nbsp;" + t if rng.random() < 0.2 else t) if t else blank for t in vals]
        elif blank and "" in vals:
            vals = [t or blank for t in vals]
        if not vals:
            pass
        elif plain:
            row += open1 + (close + open1).join(vals) + close
        else:
            row += "".join([o + t + close for o, t in zip(opens[fixed:], vals, strict=True)])
        parts.append(row + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _render_html(rec: dict[str, Any], st: _Style) -> str:
    rng = st.rng
    blocks = _blocks(rec, st, "html")
    tables = _tables(rec, st)
    title = next((d[0] + d[1] for k, d in blocks if k == "title"), "政府信息公开工作年度报告")
    script = rng.choice(_HTML_SCRIPTS).replace("{h}", f"{rng.getrandbits(64):016x}")
    body: list[str] = []
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" if st.noise and rng.random() < 0.4 else ""
    for kind, data in blocks:
        if kind == "crumb":
            body.append(f'<div class="position">{data.replace(">", "&gt;")}</div>')
        elif kind == "meta":
            idx, organ, date = data
            cells = []
            if idx:
                cells.append(f"<td>索引号:</td><td>{idx}</td>")
            if organ:
                cells.append(f"<td>发布机构:</td><td>{organ}</td>")
            if date:
                cells.append(f"<td>成文日期:</td><td>{date}</td>")
            body.append(f'<table class="xxgk-info"><tr>{"".join(cells)}</tr></table>')
        elif kind == "title":
            body.append(f'<h1 class="article-title">{data[0]}{data[1]}</h1>')
        elif kind == "source":
            body.append(f'<div class="info">{_source_line(data, st)}</div>')
        elif kind == "para":
            body.append(f'<p style="text-indent:2em;">{indent}{st.p(data)}</p>')
        elif kind == "heading":
            body.append(f"<p><strong>{data}</strong></p>")
        elif kind == "table":
            body.append(_html_table(tables[data], st))
        elif kind == "image":
            body.append(f'<p style="text-align:center"><img src="/uploadfiles/{rec["year"] + 1}/{data}" alt="{data}"></p>')
        elif kind == "sign":
            body.append("".join(f'<p style="text-align:right">{x}</p>' for x in data))
        elif kind == "foot":
            body.append("".join(f'<div class="share">{x}</div>' for x in data))
    return ("<!DOCTYPE html>\n<html>\n<head>\n" + _META_CHARSET + f"\n<title>{title}</title>\n<script>{script}</script>\n"
            "</head>\n<body>\n<div class=\"main\">\n" + "\n".join(body) + "\n</div>\n</body>\n</html>\n")


