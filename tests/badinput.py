"""Bad input (issue 5): a catalogue of named kinds of broken, hostile or odd source objects, each with its outcome.

Every kind builds its bytes deterministically (most from the renderer's valid record, then damaged) and states
what the pipeline must make of it: the finding rules that must appear (spec names), the rules that may appear,
the parse status, exact values where the report must still be read, or the failure reason when the object
cannot be read at all. Anything not listed must not appear, so an expectation can fail in both directions.

Used by tests/test_bad_input.py: once per kind through `parse_documents`, and all kinds together through the
nightly flow under awkward object keys.
"""

from __future__ import annotations

import codecs
import copy
import gzip
import io
import json
import random
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tasks.synth.render import random_record, render

# ---------------------------------------------------------------------------------------------------------------
# The valid report every damaged kind starts from (2021 form, all three tables non-trivial).

BASE_SEED = 5
BASE_YEAR = 2023


@lru_cache(maxsize=1)
def _base_record() -> dict[str, Any]:
    return random_record(random.Random(BASE_SEED), year=BASE_YEAR, organ="淮安市人民政府", admin_level="prefectural")


def base_record() -> dict[str, Any]:
    """A fresh copy of the canonical record the kinds are built from."""
    return copy.deepcopy(_base_record())


def base_text(layout: str = "pipe", seed: int = 1, rec: dict[str, Any] | None = None) -> str:
    """The base record (or `rec`) rendered without random noise: every value is printed plainly."""
    return render(rec or _base_record(), layout, rng=seed, noise=False)


def tables_of(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(rec[k]) for k in ("active_disclosure", "applications", "review_litigation")}


def exact(rec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Expected values: the record's three tables, year and form version, exactly."""
    rec = rec or _base_record()
    return {**tables_of(rec), "year": rec["year"], "format_version": rec["format_version"], **extra}


NOTHING_EXTRACTED = {"active_disclosure": None, "applications": None, "review_litigation": None}

# ---------------------------------------------------------------------------------------------------------------
# Text surgery on the pipe layout (one table row a line: `label | v | v | … |`).

_VALUE_CELL = re.compile(r"\s*[+\-]?\d+(?:\.\d+)?\s*")
_T4_VALUES = re.compile(r"^\s*\d+\s*(?:\|\s*\d+\s*){14}\|?\s*$")
ROW_PATTERNS = {  # table rows by a fragment of their label (full-width or ASCII punctuation)
    "regulations": r"^规章\s*\|",
    "normative_documents": r"^行政规范性文件\s*\|",
    "penalty": r"^行政处罚\s*\|",
    "new_received": r"本年新收政府信息公开申请数量",
    "carried_over": r"上年结转政府信息公开申请数量",
    "granted": r"予以公开\s*\|",
    "partially_granted": r"部分公开",
    "denied_administrative_query": r"属于行政查询事项",
    "unavailable_not_held": r"本机关不掌握",
    "unavailable_needs_creation": r"另行制作",
    "not_processed_petition": r"投诉类申请",
    "other_misc": r"3[.、]其他\s*\|",
    "total": r"[(（]七[)）]\s*总计",
    "carried_forward": r"结转下年度继续办理",
    "review_litigation": _T4_VALUES.pattern,
}


def _row_index(lines: list[str], key: str) -> int:
    rx = re.compile(ROW_PATTERNS[key])
    for i, line in enumerate(lines):
        if "|" in line and rx.search(line):
            return i
    raise LookupError(f"row {key} not found")


def edit_row(text: str, key: str, fn: Callable[[list[str]], list[str]]) -> str:
    """Replace the value cells of one pipe row: fn gets the printed values, returns the new cell texts."""
    lines = text.split("\n")
    i = _row_index(lines, key)
    parts = lines[i].split("|")
    idx = [j for j, p in enumerate(parts) if _VALUE_CELL.fullmatch(p)]
    new = [f" {v} " for v in fn([parts[j].strip() for j in idx])]
    parts[idx[0]:idx[-1] + 1] = new
    lines[i] = "|".join(parts)
    return "\n".join(lines)


def drop_rows(text: str, *keys: str) -> str:
    lines = text.split("\n")
    drop = {_row_index(lines, k) for k in keys}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def _heading_index(lines: list[str], number: str) -> int:
    for i, line in enumerate(lines):
        if line.startswith(number + "、") and "|" not in line:
            return i
    raise LookupError(f"section {number} not found")


def section(text: str, number: str) -> tuple[int, int]:
    """Line span [start, end) of section 二/三/四/五 (heading line included)."""
    lines = text.split("\n")
    order = "一二三四五六"
    start = _heading_index(lines, number)
    nxt = order[order.index(number) + 1]
    return start, _heading_index(lines, nxt)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def gbk(text: str) -> bytes:
    return text.replace("\xa0", " ").encode("gbk")


# ---------------------------------------------------------------------------------------------------------------
# Expectations.

ALL_INCOMPLETE = frozenset({"active_disclosure_incomplete", "applications_incomplete", "review_litigation_incomplete"})


@dataclass(frozen=True)
class Expect:
    """What the pipeline must make of one kind.

    rules: finding rules that must be present; allowed: rules that may be present; any other rule is an error.
    fields: (rule, field) pairs that must be present. status: reports.parse_status. values: record paths
    (`applications.new_received`, `year`, …) with their exact values. reason: text the message of one of
    the required findings (or the failure's error) must contain. failure: the object is in `failures`, not
    `reports`. encoding: reports.encoding starts with it (what the decoder must have recognised).
    """

    rules: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()
    fields: frozenset[tuple[str, str]] = frozenset()
    status: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    failure: bool = False
    encoding: str | None = None


def expect(rules: tuple[str, ...] | str = (), *, allowed: tuple[str, ...] | frozenset[str] = (),
           fields: tuple[tuple[str, str], ...] = (), status: str | None = None, values: Mapping[str, Any] | None = None,
           reason: str | None = None, failure: bool = False, encoding: str | None = None) -> Expect:
    rules = (rules,) if isinstance(rules, str) else rules
    return Expect(frozenset(rules), frozenset(allowed), frozenset(fields), status, dict(values or {}), reason, failure,
                  encoding)


def unsupported(reason: str, **values: Any) -> Expect:
    return expect("unsupported_format", status="unsupported", values={**NOTHING_EXTRACTED, **values}, reason=reason)


@dataclass(frozen=True)
class Kind:
    """One kind of bad input. build() gives the object's bytes (None: the kind has no report object, only a
    sidecar); sidecar() the bytes of its `<key>.meta.json`; copies: how many keys hold the same bytes;
    huge_size: the object is that many bytes (build() is only its head; the rest is written as a sparse hole)."""

    name: str
    what: str
    build: Callable[[], bytes | None]
    expect: Expect
    ext: str = ".txt"
    sidecar: Callable[[], bytes] | None = None
    copy_sidecar: Callable[[], bytes] | None = None  # the sidecar of the other copies (default: the same as the first)
    copies: int = 1
    huge_size: int | None = None
    key: str | None = None  # a specific awkward key (relative to the kind's folder)
    problem: str | None = None  # a known parser/pipeline problem: the cases in problem_scope are xfail(strict) with it
    problem_scope: tuple[str, ...] = ("unit", "e2e")


KINDS: list[Kind] = []


def kind(name: str, what: str, expect_: Expect, **kw: Any) -> Callable[[Callable[[], bytes | None]], Callable[[], bytes | None]]:
    def register(fn: Callable[[], bytes | None]) -> Callable[[], bytes | None]:
        if any(k.name == name for k in KINDS):
            raise ValueError(f"duplicate kind {name}")
        KINDS.append(Kind(name, what, fn, expect_, **kw))
        return fn

    return register


# ---------------------------------------------------------------------------------------------------------------
# Not text at all.

@kind("empty", "a zero-byte file", unsupported("empty"))
def _empty() -> bytes:
    return b""


@kind("whitespace_only", "spaces, tabs and line ends only", unsupported("empty"))
def _whitespace_only() -> bytes:
    return b" \t\r\n\n  \r\n\t\n"


@kind("binary_junk", "random bytes", unsupported("binary"))
def _binary_junk() -> bytes:
    rng = random.Random(11)
    return bytes(rng.getrandbits(8) for _ in range(4096))


@kind("pdf_as_txt", "PDF bytes under a .txt name", unsupported("pdf"))
def _pdf() -> bytes:
    stream = zlib.compress("BT /F1 12 Tf (2023年政府信息公开工作年度报告) Tj ET".encode())
    return (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\n"
            b"stream\n" + stream + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


@kind("png_as_txt", "a PNG image (a scanned table) under a .txt name", unsupported("png"))
def _png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + tag + data + zlib.crc32(tag + data).to_bytes(4, "big")
    raw = b"".join(b"\x00" + bytes([255, 0, 0] * 16) for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (16).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@kind("jpeg_as_html", "a JPEG under an .html name", unsupported("jpeg"), ext=".html")
def _jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


@kind("docx_as_html", "a Word .docx (a zip) under an .html name", unsupported("zip"), ext=".html")
def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("word/document.xml", f"<w:document><w:body><w:t>{base_text()}</w:t></w:body></w:document>")
    return buf.getvalue()


@kind("ole2_doc_as_txt", "a legacy Word .doc (OLE2) under a .txt name", unsupported("ole2"))
def _ole2() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 24 + b"\x3e\x00\x03\x00\xfe\xff" + bytes(range(256)) * 4


@kind("gzip_body", "a report stored gzip-compressed (a crawler kept the transfer encoding): unpacked and read",
      expect(status="ok", values=exact(), encoding="utf-8 (gzip)"))
def _gzip() -> bytes:
    return gzip.compress(utf8(base_text(seed=2)), mtime=0)


@kind("gzip_bomb", "a gzip body unpacking to 65 MiB of zeros", unsupported("more than 64 MiB"))
def _gzip_bomb() -> bytes:
    return gzip.compress(b"\x00" * (65 << 20), compresslevel=1, mtime=0)


@kind("nul_only", "NUL bytes only (a pre-allocated file never written)", unsupported("NUL bytes only"))
def _nul_only() -> bytes:
    return b"\x00" * 8192


# ---------------------------------------------------------------------------------------------------------------
# Encodings: the report must be read exactly.

@kind("gbk_declared_utf8", "HTML declaring charset=utf-8 whose body is GBK", expect(status="ok", values=exact(), encoding="gb18030"), ext=".html")
def _gbk_declared_utf8() -> bytes:
    return gbk(base_text("html", seed=3))  # the renderer's <meta charset="utf-8"> stays


@kind("utf8_declared_gbk", "HTML declaring charset=gbk whose body is UTF-8", expect(status="ok", values=exact(), encoding="utf-8"), ext=".html")
def _utf8_declared_gbk() -> bytes:
    return utf8(base_text("html", seed=4).replace('<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=gbk">'))


@kind("mixed_utf8_gbk_lines", "a page template in UTF-8 around an article body in GBK (stitched by a crawler)",
      expect("mixed_encoding", status="ok", values=exact(), encoding="mixed"))
def _mixed_lines() -> bytes:
    lines = _lines(base_text(seed=5))
    s, _e = section("\n".join(lines), "二")
    head = "\n".join(lines[:s]) + "\n"
    body = "\n".join(lines[s:])
    return utf8(head) + gbk(body)


@kind("mixed_gbk_utf8_alternating", "every other line GBK, the rest UTF-8", expect("mixed_encoding", status="ok", values=exact(), encoding="mixed"))
def _mixed_alternating() -> bytes:
    lines = _lines(base_text("cell_per_line", seed=6))
    return b"\n".join(gbk(ln) if i % 2 else utf8(ln) for i, ln in enumerate(lines))


@kind("utf16le_no_bom", "UTF-16 little-endian without a byte-order mark", expect(status="ok", values=exact(), encoding="utf-16"))
def _utf16le() -> bytes:
    return base_text(seed=7).encode("utf-16-le")


@kind("utf16be_no_bom", "UTF-16 big-endian without a byte-order mark", expect(status="ok", values=exact(), encoding="utf-16"))
def _utf16be() -> bytes:
    return base_text("cell_per_line", seed=8).encode("utf-16-be")


@kind("utf16_cut_odd_byte", "UTF-16 with BOM, cut after an odd number of bytes at the end of the file",
      expect(status="ok", values=exact(), encoding="utf-16"))
def _utf16_odd() -> bytes:
    data = (base_text(seed=9) + "\n附件:无\n").encode("utf-16")
    return data[:-1]


@kind("utf32_bom", "UTF-32 with BOM", expect(status="ok", values=exact(), encoding="utf-32"))
def _utf32() -> bytes:
    return base_text(seed=10).encode("utf-32")


@kind("utf8_bom_gbk_body", "a UTF-8 byte-order mark in front of a GBK body (an editor added it)",
      expect(status="ok", values=exact(), encoding="gb18030"))
def _bom_gbk() -> bytes:
    return codecs.BOM_UTF8 + gbk(base_text(seed=12))


@kind("double_encoded_utf8", "UTF-8 read as Windows-1252 and saved again as UTF-8 (mojibake: 'æ·®å®‰å¸‚')",
      expect(status="ok", values=exact(), encoding="utf-8 (repaired"))
def _double_encoded() -> bytes:
    # as a browser reads it (WHATWG windows-1252: the five bytes cp1252 leaves undefined map to U+0081 …)
    raw = base_text(seed=13).encode("utf-8")
    return "".join(bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b) for b in raw).encode()


@kind("truncated_mid_character", "UTF-8 cut in the middle of a multi-byte character (after the last section)",
      expect(status="ok", values=exact(), encoding="utf-8"))
def _cut_char() -> bytes:
    data = utf8(base_text(seed=14).rstrip("\n") + "\n特此报告。")
    return data[:-2]


@kind("gbk_truncated_mid_character", "GBK cut in the middle of a double-byte character (after the last section)",
      expect(status="ok", values=exact(), encoding="gb18030"))
def _gbk_cut_char() -> bytes:
    data = gbk(base_text(seed=15).rstrip("\n") + "\n特此报告")
    return data[:-1]


@kind("nul_bytes_inside", "NUL bytes scattered through a UTF-8 report (a broken export)", expect(status="ok", values=exact(), encoding="utf-8"))
def _nul_inside() -> bytes:
    text = base_text(seed=16)
    out = []
    for i, line in enumerate(_lines(text)):
        out.append(line.replace("|", "\x00|", 1) if i % 3 == 0 else line)
    return utf8("\n".join(out))


@kind("nul_padded_tail", "a UTF-8 report followed by 64 KiB of NUL padding", expect(status="ok", values=exact(), encoding="utf-8"))
def _nul_tail() -> bytes:
    return utf8(base_text(seed=17)) + b"\x00" * 65536


@kind("crlf_line_ends", "Windows line ends", expect(status="ok", values=exact()))
def _crlf() -> bytes:
    return utf8(base_text("cell_per_line", seed=18).replace("\n", "\r\n"))


@kind("cr_line_ends", "old Mac line ends (CR only), GBK", expect(status="ok", values=exact(), encoding="gb18030"))
def _cr() -> bytes:
    return gbk(base_text(seed=19).replace("\n", "\r"))


@kind("form_feeds", "PDF text with a form feed at every page break", expect(status="ok", values=exact()))
def _form_feeds() -> bytes:
    text = base_text("pdf_text", seed=20)
    return utf8(re.sub(r"(?m)^- (\d+) -$", lambda m: "\f- " + m.group(1) + " -", text))


# ---------------------------------------------------------------------------------------------------------------
# Structure.

_TRUNC_ROWS = ("new_received", "carried_over", "granted", "partially_granted")


@kind("truncated_mid_table", "a file cut off in the middle of table 3",
      expect(("applications_incomplete", "review_litigation_incomplete"), status="incomplete",
             values={"active_disclosure": _base_record()["active_disclosure"],
                     **{f"applications.{k}": _base_record()["applications"][k] for k in _TRUNC_ROWS},
                     "applications.total": [None] * 7, "applications.carried_forward": [None] * 7,
                     "review_litigation": None}))
def _truncated() -> bytes:
    lines = _lines(base_text(seed=21))
    i = _row_index(lines, "denied_administrative_query")
    return utf8("\n".join(lines[:i]) + "\n" + lines[i][: len(lines[i]) // 3])  # cut inside a row of table 3


@kind("tables_out_of_order", "section 四 (table 4) printed before section 三 (table 3)",
      expect(status="ok", values=exact(), allowed=("narrative_table_mismatch",)))
def _out_of_order() -> bytes:
    text = base_text(seed=22)
    lines = _lines(text)
    s3, e3 = section(text, "三")
    s4, e4 = section(text, "四")
    lines = lines[:s3] + lines[s4:e4] + lines[s3:e3] + lines[e4:]
    return utf8("\n".join(lines))


@kind("table_twice", "table 3 printed twice (the same table pasted again)", expect(status="ok", values=exact()))
def _table_twice() -> bytes:
    text = base_text(seed=23)
    lines = _lines(text)
    s3, e3 = section(text, "三")
    lines = lines[:e3] + lines[s3 + 1:e3] + lines[e3:]
    return utf8("\n".join(lines))


def _rows_missing_values() -> dict[str, Any]:
    apps = copy.deepcopy(_base_record()["applications"])
    for k in ("granted", "unavailable_needs_creation"):
        apps[k] = [None] * 7
    return {"applications": apps, "active_disclosure": _base_record()["active_disclosure"],
            "review_litigation": _base_record()["review_litigation"]}


@kind("rows_missing", "two table-3 rows left out", expect("applications_incomplete", status="incomplete",
      values=_rows_missing_values(), reason="granted"))
def _rows_missing() -> bytes:
    return utf8(drop_rows(base_text(seed=24), "granted", "unavailable_needs_creation"))


@kind("row_cells_missing", "a table-3 row printed with 5 of its 7 cells", expect(
      "applications_incomplete", status="incomplete", reason="carried_over",
      values={"applications.carried_over": [None] * 7, "applications.new_received": _base_record()["applications"]["new_received"]}))
def _row_short() -> bytes:
    text = edit_row(base_text(seed=25), "carried_over", lambda v: v[:5])
    lines = _lines(text)
    i = _row_index(lines, "carried_over")
    lines[i] = lines[i].rstrip(" |") + " |"  # the table's padding cells go too: the row has 5 cells, not 5 + blanks
    return utf8("\n".join(lines))


@kind("extra_columns", "every table-3 row has an 8th value column", expect(
      "applications_extra_cells", status="ok", values=exact()))
def _extra_columns() -> bytes:
    text = base_text(seed=26)
    for key in ("new_received", "carried_over", "granted", "total", "carried_forward"):
        text = edit_row(text, key, lambda v: [*v, "9"])
    return utf8(text)


def _with_null_tokens() -> tuple[str, dict[str, Any]]:
    text = base_text(seed=27)
    values = exact()
    # research and nonprofit columns printed as dashes, a slash and 无 where the record has zeros
    new = list(_base_record()["applications"]["new_received"])
    assert new[2] == 0 and new[3] == 0
    text = edit_row(text, "new_received", lambda v: [v[0], v[1], "—", "/", *v[4:]])
    values["applications"]["new_received"] = [new[0], new[1], None, None, *new[4:]]
    text = edit_row(text, "carried_over", lambda v: [*v[:2], "无", *v[3:]])
    values["applications"]["carried_over"][2] = None
    return text, values


@kind("null_token_cells", "cells printed as —, / and 无 (nothing to report): null, never 0",
      expect(status="ok", values=_with_null_tokens()[1]))
def _null_tokens() -> bytes:
    return utf8(_with_null_tokens()[0])


def _with_words() -> tuple[str, dict[str, Any]]:
    text = base_text(seed=28)
    values = exact()
    text = edit_row(text, "granted", lambda v: ["若干", *v[1:]])
    values["applications"]["granted"][0] = None
    text = edit_row(text, "penalty", lambda v: ["N/A"])
    values["active_disclosure"]["penalty"]["decisions"] = None
    return text, values


@kind("non_numeric_words", "cells printed as 若干 (several) and N/A: null, with a finding naming the cell", expect(
      ("applications_non_numeric_value", "active_disclosure_non_numeric_value"), status="ok", values=_with_words()[1],
      fields=(("applications_non_numeric_value", "applications.granted[0]"),
              ("active_disclosure_non_numeric_value", "active_disclosure.penalty.decisions"))))
def _words() -> bytes:
    return utf8(_with_words()[0])


_FW = str.maketrans("0123456789,", "０１２３４５６７８９，")


@kind("fullwidth_digits", "every number in full-width digits (１００８)", expect(status="ok", values=exact()))
def _fullwidth() -> bytes:
    text = base_text(seed=29)
    s, e = section(text, "二")[0], section(text, "五")[0]
    lines = _lines(text)
    lines[s:e] = [ln.translate(_FW) if "|" in ln else ln for ln in lines[s:e]]
    return utf8("\n".join(lines))


def _thousands_record() -> dict[str, Any]:
    rec = base_record()  # every table-3 count times 1,013: the sum rules still hold, most cells pass 1,000
    rec["applications"] = {k: [v * 1013 for v in vals] for k, vals in rec["applications"].items()}
    rec["active_disclosure"]["penalty"]["decisions"] = 1293783
    return rec


@kind("thousands_separators", "numbers with thousands separators (12,345 and 1，293，783)",
      expect(status="ok", values=exact(_thousands_record())))
def _thousands() -> bytes:
    rec = _thousands_record()
    text = base_text(seed=30, rec=rec)
    for key in ("new_received", "carried_over", "granted", "partially_granted", "unavailable_not_held", "total",
                "carried_forward"):
        text = edit_row(text, key, lambda v: [f"{int(x):,}" for x in v])
    text = edit_row(text, "penalty", lambda v: ["1，293，783"])
    return utf8(text)


def _negative_values() -> dict[str, Any]:
    values = exact()
    values["applications"]["not_processed_petition"] = [-19, 1, 0, 0, 0, 0, -18]
    return values


@kind("negative_counts", "a negative request count (a count cannot be negative)", expect(
      ("applications_negative_value", "applications_detail_sum_mismatch"), status="flagged", values=_negative_values(),
      fields=(("applications_negative_value", "applications.not_processed_petition[0]"),
              ("applications_negative_value", "applications.not_processed_petition[6]"))))
def _negative() -> bytes:
    return utf8(edit_row(base_text(seed=31), "not_processed_petition", lambda v: ["-19", v[1], *v[2:6], "-18"]))


def _absurd_values() -> dict[str, Any]:
    values = exact()
    values["applications"]["new_received"][0] = 8_740_000_000
    return values


@kind("absurd_values", "more than 10^9 requests in one cell", expect(
      ("applications_implausible_value", "applications_row_total_mismatch", "applications_column_identity_mismatch"),
      status="flagged", values=_absurd_values(),
      fields=(("applications_implausible_value", "applications.new_received[0]"),)))
def _absurd() -> bytes:
    return utf8(edit_row(base_text(seed=32), "new_received", lambda v: ["8740000000", *v[1:]]))


def _fractional_values() -> dict[str, Any]:
    values = exact()
    values["applications.granted"] = [None, *_base_record()["applications"]["granted"][1:]]
    del values["applications"]
    return values


@kind("fractional_count", "a request count printed as 12.5 (a count is a whole number)", expect(
      "applications_non_numeric_value", status="ok", values=_fractional_values(),
      fields=(("applications_non_numeric_value", "applications.granted[0]"),)))
def _fractional() -> bytes:
    return utf8(edit_row(base_text(seed=43), "granted", lambda v: ["12.5", *v[1:]]))


def _overflow_values() -> dict[str, Any]:
    values = exact()
    values["applications.granted"] = [None, *_base_record()["applications"]["granted"][1:]]
    del values["applications"]
    return values


@kind("overflow_digits", "a 23-digit number in a table-3 cell (beyond Int64)", expect(
      "applications_implausible_value", status="ok", values=_overflow_values(),
      fields=(("applications_implausible_value", "applications.granted[0]"),)))
def _overflow() -> bytes:
    return utf8(edit_row(base_text(seed=44), "granted", lambda v: ["99999999999999999999999", *v[1:]]))


@kind("units_and_signs_in_cells", "counts printed with a unit (874件), a plus sign (+101), NBSP, ideographic spaces and "
      "zero-width spaces around and inside the digits", expect(status="ok", values=exact()))
def _units_signs() -> bytes:
    text = base_text(seed=61)
    text = edit_row(text, "new_received", lambda v: [x + "件" for x in v])
    text = edit_row(text, "carried_over", lambda v: ["+" + x for x in v])
    text = edit_row(text, "granted", lambda v: ["\u00a0" + x + "\u3000" for x in v])
    text = edit_row(text, "total", lambda v: [x[:1] + "\u200b" + x[1:] for x in v])
    return utf8(text)


def _review_negative_values() -> dict[str, Any]:
    values = exact()
    values["review_litigation"][0] = -values["review_litigation"][0]
    return values


@kind("negative_review_count", "a negative count in table 4", expect(
      ("review_litigation_negative_value", "review_litigation_total_mismatch"), status="flagged",
      values=_review_negative_values(), fields=(("review_litigation_negative_value", "review_litigation[0]"),)))
def _review_negative() -> bytes:
    return utf8(edit_row(base_text(seed=62), "review_litigation", lambda v: ["-" + v[0], *v[1:]]))


def _absurd_t2_values() -> dict[str, Any]:
    values = exact()
    values["active_disclosure"]["penalty"]["decisions"] = 29_378_300_000
    return values


@kind("absurd_table_2_value", "29,378,300,000 penalty decisions in one year", expect(
      "active_disclosure_implausible_value", status="ok", values=_absurd_t2_values(),
      fields=(("active_disclosure_implausible_value", "active_disclosure.penalty.decisions"),)))
def _absurd_t2() -> bytes:
    return utf8(edit_row(base_text(seed=63), "penalty", lambda v: ["29378300000"]))


def _review_word_values() -> dict[str, Any]:
    values = exact()
    values["review_litigation"][4] = None
    return values


@kind("non_numeric_review_total", "table 4's review total printed as 若干", expect(
      "review_litigation_non_numeric_value", status="ok", values=_review_word_values(),
      fields=(("review_litigation_non_numeric_value", "review_litigation[4]"),)))
def _review_word() -> bytes:
    return utf8(edit_row(base_text(seed=64), "review_litigation", lambda v: [*v[:4], "若干", *v[5:]]))


def _percent_values() -> dict[str, Any]:
    values = exact()
    del values["applications"]
    values["applications.granted"] = [*_base_record()["applications"]["granted"][:6], None]
    return values


@kind("percent_in_count_cell", "a share (33%) printed in the 总计 column of a count row", expect(
      "applications_non_numeric_value", status="ok", values=_percent_values(),
      fields=(("applications_non_numeric_value", "applications.granted[6]"),)))
def _percent() -> bytes:
    return utf8(edit_row(base_text(seed=65), "granted", lambda v: [*v[:6], "33%"]))


def _broken_totals() -> dict[str, Any]:
    values = exact()
    values["applications"]["granted"][6] += 5
    return values


@kind("row_total_wrong", "a row whose 总计 is not the sum of its six columns (printed as is, never fixed)", expect(
      ("applications_row_total_mismatch", "applications_detail_sum_mismatch"), status="flagged", values=_broken_totals(),
      fields=(("applications_row_total_mismatch", "applications.granted[6]"),)))
def _row_total_wrong() -> bytes:
    return utf8(edit_row(base_text(seed=33), "granted", lambda v: [*v[:6], str(int(v[6]) + 5)]))


@kind("merged_header_garbage", "table-3 header cells run together into one garbled line",
      expect(status="ok", values=exact()))
def _header_garbage() -> bytes:
    text = base_text(seed=34)
    lines = _lines(text)
    i = _row_index(lines, "new_received")
    # the three header rows (申请人情况 / 自然人 法人或其他组织 总计 / 商业企业 …) fused, padding pipes lost
    lines[i - 3:i] = ["（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）申请人情况自然人法人或其他组织总计商业"
                      "企业科研机构社会公益组织法律服务机构其他 |||||"]
    return utf8("\n".join(lines))


# ---------------------------------------------------------------------------------------------------------------
# Not reports, or not supported.

def _record_2018() -> dict[str, Any]:
    return random_record(random.Random(2018), year=2018, organ="盐城市人民政府", admin_level="prefectural")


@kind("report_2018_in_2019_form", "a report for 2018 printed in the 2019 trial form's tables",
      unsupported("2018", year=2018))
def _r2018() -> bytes:
    return utf8(base_text(rec=_record_2018(), seed=35))


@kind("report_2016_free_form", "a free-form report for 2016 (no national form yet), GBK", unsupported("2016", year=2016))
def _r2016() -> bytes:
    return gbk("射阳县人民政府2016年政府信息公开工作年度报告\n"
               "本报告根据《中华人民共和国政府信息公开条例》要求编制。\n一、概述\n2016年,我县共主动公开政府信息3521条,"
               "受理依申请公开12件,均已按期答复。\n二、主动公开政府信息情况\n全年主动公开3521条。\n"
               "三、依申请公开政府信息和不予公开政府信息情况\n共受理12件。\n四、因政府信息公开申请行政复议、提起行政诉讼情况\n无。\n")


@kind("notice_about_report", "a notice asking departments to submit their reports", unsupported("not a parseable annual report"))
def _notice() -> bytes:
    return utf8("关于报送2023年政府信息公开工作年度报告的通知\n各县区人民政府,市各部门:\n"
                "根据《中华人民共和国政府信息公开条例》第四十九条规定,请于2024年1月31日前在本单位门户网站公布"
                "2023年政府信息公开工作年度报告,并报送市政务公开办。\n淮安市政务公开办公室\n2024年1月5日\n")


@kind("notice_quoting_table_labels", "a notice that quotes the form's row labels (how to fill it in), no figures",
      unsupported("not a parseable annual report"))
def _notice_labels() -> bytes:
    return utf8("关于做好2023年政府信息公开工作年度报告编制工作的通知\n各县区人民政府,市各部门:\n"
                "一、报告内容。按照国办公开办函〔2021〕30号要求,如实填写“本年新收政府信息公开申请数量”"
                "“上年结转政府信息公开申请数量”“结转下年度继续办理”等栏目,行政复议结果维持、结果纠正情况一并填报。\n"
                "二、报送时间。请于2024年1月31日前报送。\n淮安市政务公开办公室\n2024年1月5日\n")


@kind("report_listing_page", "a portal page listing links to annual reports 2017–2023 (a crawler's false positive)",
      unsupported("no report tables", year=None), ext=".html")
def _listing() -> bytes:
    items = "".join(f'<li><a href="/xxgk/{y}.html">淮安市人民政府{y}年政府信息公开工作年度报告</a><span>{y + 1}-03-2{y % 10}</span></li>'
                    for y in range(2017, 2024))
    return utf8(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>政府信息公开年报</title></head><body>'
                f'<div class="crumb">首页 &gt; 政府信息公开 &gt; 年报</div><ul class="list">{items}</ul></body></html>')


@kind("html_scripts_no_body", "an HTML page of scripts, styles and nested layout tables with no body text",
      unsupported("no report tables"), ext=".html")
def _html_no_body() -> bytes:
    inner = "<table><tr><td><table><tr><td>&nbsp;</td><td><img src='a.gif'></td></tr></table></td></tr></table>"
    scripts = "".join(f"<script>var x{i} = '规章 | 1 | 2 | 3 |'; document.write('<table><tr><td>结果维持</td></tr></table>');</script>"
                      for i in range(20))
    return utf8(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>政府信息公开工作年度报告</title>'
                f"<style>td{{color:red}} /* 本年新收政府信息公开申请 */</style>{scripts}</head>"
                f"<body><noscript>请启用JavaScript</noscript><table><tr><td>{inner}</td><td>{inner}</td></tr></table></body></html>")


@kind("only_title", "nothing but the report's title", unsupported("no report tables", year=BASE_YEAR))
def _only_title() -> bytes:
    return utf8("淮安市人民政府2023年政府信息公开工作年度报告\n")


@kind("tables_as_images", "a real report whose three tables are images (only file names stand in for them)",
      expect(tuple(sorted(ALL_INCOMPLETE)), status="incomplete", values={**NOTHING_EXTRACTED, "year": BASE_YEAR}),
      ext=".html")
def _tables_as_images() -> bytes:
    html = base_text("html", seed=36)
    html = re.sub(r"<table border=\"1\".*?</table>", lambda m: '<p><img src="/uploadfiles/2024/3f2a9c.jpg" alt="表格"></p>', html,
                  flags=re.S)
    return utf8(html)


@kind("no_year_anywhere", "a report whose title, period and body never state the year", expect(
      "report_year_missing", status="flagged", values={**tables_of(_base_record()), "year": None}, allowed=("narrative_table_mismatch",)))
def _no_year() -> bytes:
    text = base_text(seed=37)
    text = re.sub(r"\d{4}\s*年度?", "本年度", text)
    text = re.sub(r"统计期限为[^。]*。", "", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "", text)
    return utf8(text)


def _mixed_version_text() -> str:
    rec2019 = random_record(random.Random(BASE_SEED), year=2020, format_version="2019", organ="淮安市人民政府",
                            admin_level="prefectural")
    t2021 = base_text(seed=38)
    t2019 = base_text(seed=38, rec=rec2019).replace("2020", "2023")
    a, b = section(t2021, "三")
    c, d = section(t2019, "三")
    lines = _lines(t2021)
    return "\n".join(lines[:a] + _lines(t2019)[c:d] + lines[b:])


@kind("format_version_mixed", "table 2 in the 2021 form, table 3 in the 2019 trial form: (六)其他处理 one row, the only "
      "row the forms' table 3 differ in; read as a 2021 table printing (六) as one row (issue 15: not a mix of forms), its "
      "sub-rows null where that row is not all zeros", expect(
      "ambiguous_value", status="flagged", allowed=("narrative_table_mismatch",),
      fields=tuple(("ambiguous_value", f"applications.{k}") for k in ("other_no_correction", "other_unpaid_fee", "other_misc")),
      values={"format_version": "2021", "active_disclosure": _base_record()["active_disclosure"],
              "review_litigation": _base_record()["review_litigation"]}))
def _mixed_version() -> bytes:
    return utf8(_mixed_version_text())


# ---------------------------------------------------------------------------------------------------------------
# HTML shapes.

@kind("html_layout_table_wrapper", "the report's body (tables included) inside a page-layout table cell",
      expect(status="ok", values=exact()), ext=".html")
def _layout_wrapper() -> bytes:
    html = base_text("html", seed=39)
    html = html.replace('<div class="main">', '<table width="1000" class="layout"><tr><td class="nav">首页 | 政务公开 | 年报</td>'
                        '<td class="content"><div class="main">', 1)
    html = html.replace("</body>", "</td></tr></table></body>", 1)
    return utf8(html)


@kind("html_deeply_nested", "the report inside 3,000 nested <div>s (a broken page builder)",
      expect(status="ok", values=exact()), ext=".html")
def _deep() -> bytes:
    html = base_text("html", seed=40)
    html = html.replace('<div class="main">', "<div>" * 3000 + '<div class="main">', 1)
    html = html.replace("</body>", "</div>" * 3000 + "</body>", 1)
    return utf8(html)


@kind("html_malformed", "unclosed <td>/<tr>/<p> tags, stray </table>, uppercase tags", expect(status="ok", values=exact()),
      ext=".html")
def _malformed() -> bytes:
    html = base_text("html", seed=41)
    html = html.replace("</td>", "").replace("</tr>", "").replace("</p>", "")
    html = html.replace("<td", "<TD").replace("<tr>", "<TR>")
    html = html.replace("</html>", "</table></div></html>")
    return utf8(html)


@kind("html_table_without_rows", "a <table> whose cells are <div>s (no <tr>/<td>): its text must not vanish",
      expect(status="ok", values=exact()), ext=".html")
def _table_no_rows() -> bytes:
    html = base_text("html", seed=45)
    html = html.replace("<td", "<div").replace("</td>", "</div>").replace("<tr>", "<div>").replace("</tr>", "</div>")
    return utf8(html)


@kind("xhtml_encoding_declaration", "XHTML starting with <?xml … encoding=\"gbk\"?> (lxml refuses such str input)",
      expect(status="ok", values=exact(), encoding="gb18030"), ext=".html")
def _xhtml() -> bytes:
    html = base_text("html", seed=46).replace('<meta charset="utf-8">', '<meta charset="gbk">')
    return gbk('<?xml version="1.0" encoding="gbk"?>\n' + html.replace("<!DOCTYPE html>", '<!DOCTYPE html PUBLIC '
               '"-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'))


@kind("html_unclosed_font_tags", "an old page builder's <font> opened in every cell and paragraph, never closed",
      expect(status="ok", values=exact()), ext=".html")
def _unclosed_font() -> bytes:
    html = base_text("html", seed=47)
    html = re.sub(r"<(td|p)([^>]*)>", r'<\1\2><font face="宋体" size="3">', html)
    return utf8(html)


@kind("gbk_corrupt_bytes", "a GBK report with two corrupt bytes in its prose (not a mixed-encoding file)",
      expect(status="ok", values=exact(), encoding="gb18030"))
def _gbk_corrupt() -> bytes:
    data = bytearray(gbk(base_text(seed=48)))
    for marker in ("总体情况".encode("gbk"), "存在的主要问题".encode("gbk")):
        i = data.index(marker)
        data[i + 1] = 0x7F  # a trail byte no GBK character has
    return bytes(data)


@kind("utf8_corrupt_bytes", "a UTF-8 report with two bytes damaged in its prose (not a mixed-encoding file)",
      expect(status="ok", values=exact(), encoding="utf-8"))
def _utf8_corrupt() -> bytes:
    data = bytearray(utf8(base_text(seed=66)))
    for marker in ("总体情况".encode(), "存在的主要问题".encode()):
        i = data.index(marker)
        data[i + 1] = 0xFF  # never valid in UTF-8
    return bytes(data)


_CN_DIGITS = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))


@kind("chinese_numeral_year", "the year written only in Chinese numerals (二〇二三年度)", expect(
      status="ok", values=exact(), allowed=("narrative_table_mismatch",)))
def _cn_year() -> bytes:
    text = base_text(seed=49)
    text = re.sub(r"(20\d\d)(\s*年)", lambda m: "".join(_CN_DIGITS[c] for c in m.group(1)) + m.group(2), text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "", text)
    return utf8(text)


# ---------------------------------------------------------------------------------------------------------------
# Size and shape extremes.

@kind("long_single_line", "one 2.6 MB line of text without a line break", unsupported("not an annual report"))
def _long_line() -> bytes:
    return utf8("政务公开" * 50_000 + "0123456789" * 200_000)


@kind("many_tiny_rows", "200,000 one-cell pipe rows of digits", unsupported("not an annual report"))
def _tiny_rows() -> bytes:
    return utf8("".join(f"{i % 10} |\n" for i in range(200_000)))


@kind("huge_200mb", "a 200 MB object: refused before it is read", expect(failure=True, reason="too_large"),
      huge_size=200 * 1024**2)
def _huge_head() -> bytes:
    return utf8(base_text(seed=42))


# ---------------------------------------------------------------------------------------------------------------
# Keys, copies and sidecars. Each report is valid; the awkwardness is around it.

def _variant_text(seed: int) -> bytes:
    """A valid report with its own bytes (different seeds give different texts, so no two kinds dedupe)."""
    return utf8(base_text(seed=100 + seed))


@kind("same_report_two_keys", "the same bytes under two keys: one report, the second key a duplicate source",
      expect(status="ok", values=exact()), copies=2)
def _two_keys() -> bytes:
    return _variant_text(1)


@kind("key_with_spaces", "a key with spaces (leading, inner, trailing)", expect(status="ok", values=exact()),
      key=" 2023 年报 / report  final .txt")
def _key_spaces() -> bytes:
    return _variant_text(2)


@kind("key_chinese", "a key in Chinese", expect(status="ok", values=exact()), key="淮安市/政府信息公开/年度报告（2023）.txt")
def _key_chinese() -> bytes:
    return _variant_text(3)


@kind("key_dot_dot", "a key with '..' inside names (a literal '..' segment is tested on S3)", expect(status="ok", values=exact()),
      key="a..b/2023..report...txt")
def _key_dots() -> bytes:
    return _variant_text(4)


@kind("key_percent_2f", "a key holding a literal %2F and %2E%2E (not a separator, not '..')", expect(status="ok", values=exact()),
      key="x%2Fy/%2E%2E%2Freport%2F2023.txt")
def _key_pct() -> bytes:
    return _variant_text(5)


@kind("key_very_long", "a key of 700 bytes (long folder names, 80 Chinese characters in the file name)",
      expect(status="ok", values=exact()), key="/".join(["长" * 60] * 2) + "/" + "报" * 80 + ".txt")
def _key_long() -> bytes:
    return _variant_text(6)



SIDECAR_ORGAN = "淮安市人民政府办公室"  # not the organ the text names (淮安市人民政府): shows whose name was used


def _sidecar_ok() -> bytes:
    return json.dumps({"organ": SIDECAR_ORGAN, "level": "prefectural", "url": "https://www.huaian.gov.cn/x.html"},
                      ensure_ascii=False).encode()


@kind("sidecar_invalid_json", "a report whose <key>.meta.json sidecar is not valid JSON", expect(
      "sidecar_invalid", status="ok", values=exact(organ="淮安市人民政府")),
      sidecar=lambda: '{"organ": "盐城市人民政府", "level": '.encode(),
      problem_scope=("e2e",))
def _sidecar_bad() -> bytes:
    return _variant_text(7)


@kind("sidecar_gbk", "a sidecar written in GBK (not UTF-8 JSON)", expect(
      "sidecar_invalid", status="ok", values=exact(organ="淮安市人民政府")),
      sidecar=lambda: '{"organ": "盐城市人民政府"}'.encode("gbk"), problem_scope=("e2e",))
def _sidecar_gbk() -> bytes:
    return _variant_text(8)


@kind("sidecar_not_object", "a sidecar that is a JSON array", expect(
      "sidecar_invalid", status="ok", values=exact(organ="淮安市人民政府")),
      sidecar=lambda: '["organ", "盐城市人民政府"]'.encode(), problem_scope=("e2e",))
def _sidecar_array() -> bytes:
    return _variant_text(9)


@kind("sidecar_ok", "a report with a good sidecar (control: the sidecar's organ is used)", expect(
      status="ok", values=exact(organ=SIDECAR_ORGAN, admin_level="prefectural")), sidecar=_sidecar_ok)
def _sidecar_good() -> bytes:
    return _variant_text(10)


def _sidecar_other() -> bytes:
    return json.dumps({"organ": "淮安市清江浦区人民政府", "level": "county"}, ensure_ascii=False).encode()


@kind("duplicate_conflicting_sidecars", "the same report under two keys whose sidecars disagree: the source key's wins",
      expect(status="ok", values=exact(organ=SIDECAR_ORGAN, admin_level="prefectural")), copies=2,
      sidecar=_sidecar_ok, copy_sidecar=_sidecar_other)
def _dup_sidecars() -> bytes:
    return _variant_text(11)


@kind("key_leading_dots", "file and folder names starting with '..'", expect(status="ok", values=exact()),
      key="..年报/..2023年度报告.txt")
def _key_leading_dots() -> bytes:
    return _variant_text(12)


@kind("orphan_sidecar", "a <key>.meta.json whose report does not exist: not a source object, never a report",
      expect(), sidecar=_sidecar_ok)
def _orphan() -> None:
    return None


KINDS_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}

