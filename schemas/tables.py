"""One declaration per frame the lake holds (the five tables, cross-year findings, failures, expected publishers, the
state and the runs): Polars and PyArrow schemas, the grains and the data dictionary derive from it, and `conform`
is the one gate every frame passes before it is written."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import polars as pl
import pyarrow as pa

SCHEMA_VERSION = 2
PARTITION_KEYS = ("year", "admin_level")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType | type[pl.DataType]
    nullable: bool
    description: str
    source: str  # where it comes from in the report


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    grain: tuple[str, ...]  # the columns that identify a row: unique in every frame written (`conform` checks)
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        unknown = [g for g in self.grain if g not in names]
        if not self.grain or unknown or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: grain {self.grain} must name declared columns, once each ({unknown})")

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    @property
    def file_columns(self) -> tuple[Column, ...]:
        """Columns stored inside the Parquet files (partition keys live in the path only)."""
        return tuple(c for c in self.columns if c.name not in PARTITION_KEYS)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, _arrow_type(c.dtype), nullable=c.nullable) for c in self.file_columns],
            metadata={"govreports_schema_version": str(SCHEMA_VERSION), "table": self.name},
        )

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.nullable)


def _arrow_type(dtype: pl.DataType | type[pl.DataType]) -> pa.DataType:
    empty = pl.Series("x", [], dtype=dtype).to_arrow()
    t = empty.type
    # Polars exports large_string / string_view; plain string is the widest-read type in BI engines.
    if t in (pa.large_string(), pa.string_view()):
        return pa.string()
    return t


def _key(name: str, description: str, source: str = "derived") -> Column:
    return Column(name, pl.String, False, description, source)


_REPORT_ID = _key("report_id", "SHA-256 (hex, first 32 chars) of the raw file's bytes: one report, whatever key it sits under.")
_YEAR = Column("year", pl.Int32, False, "Report year: the statistics period, not the publish date (partition key).",
               "统计期限 / title / body (本年度)")
_LEVEL = Column("admin_level", pl.String, False,
                "Administrative level of the issuing organ: central, provincial, prefectural, county, township, unknown (partition key).",
                "organ name resolved against the administrative-division table, or the sidecar's level")

REPORTS = Table(
    "reports",
    "One row per parsed report: where it came from, who published it, which form, and how parsing went.",
    ("report_id",),
    (
        _REPORT_ID,
        _YEAR,
        _LEVEL,
        Column("source", pl.String, False, "Object key or path the report was read from (the first, when content repeats).", "storage"),
        Column("content_hash", pl.String, False, "Full SHA-256 hex digest of the raw bytes.", "storage"),
        Column("byte_size", pl.Int64, False, "Size of the raw file in bytes.", "storage"),
        Column("encoding", pl.String, True, "Detected text encoding (utf-8, gb18030, utf-16, …), or pdf / docx for a text read from a PDF or Word attachment.", "raw bytes"),
        Column("format_version", pl.String, True, "National form version: 2019 (trial, 国办公开办函〔2019〕60号) or 2021 (〔2021〕30号).",
               "table-2 column headers; report year"),
        Column("layout", pl.String, True, "How the tables reached us: pipe, cell_per_line, whitespace_cell_per_line, pdf_text, html, flattened.",
               "raw text"),
        Column("title", pl.String, True, "Report title.", "title line (…政府信息公开工作年度报告)"),
        Column("organ", pl.String, True, "Issuing organ's name.", "sidecar; header grid 发布机构; title; first lines; signature"),
        Column("organ_kind", pl.String, True, "government, department, zone or other.", "organ name"),
        Column("province", pl.String, True, "Province-level division name.", "administrative-division table"),
        Column("prefecture", pl.String, True, "Prefecture-level division name.", "administrative-division table"),
        Column("county", pl.String, True, "County-level division name.", "administrative-division table"),
        Column("division_code", pl.String, True, "6-digit administrative division code of the organ's government.", "administrative-division table"),
        Column("published_date", pl.Date, True, "Publish date.", "header grid 成文日期/公开日期/发布时间; signature date"),
        Column("index_number", pl.String, True, "Government-information index number (索引号).", "header grid 索引号"),
        Column("url", pl.String, True, "Page address, when the crawler's sidecar gives it.", "sidecar <file>.meta.json"),
        Column("parse_status", pl.String, False, "ok (no errors), flagged (findings of severity error), incomplete (a table missing or cut), unsupported.",
               "derived from findings"),
        Column("error_count", pl.Int32, False, "Findings of severity error.", "findings"),
        Column("warning_count", pl.Int32, False, "Findings of severity warning.", "findings"),
        Column("duplicate_sources", pl.List(pl.String), True, "Other keys holding exactly the same bytes.", "storage"),
        Column("parser_version", pl.String, False, "govreports parser version that produced the row.", "derived"),
        Column("reader", pl.String, True, "What read the report's text: pdfium <version> or pypdf <version> for a PDF "
               "(pypdf where a CJK font is named but not embedded, or GOVREPORTS_PDF_READER=pypdf), the OCR engine and "
               "its version for a scan (rapidocr-onnxruntime <version>), python-docx <version> for Word (+ the OCR "
               "engine where its tables are pictures), lxml for an "
               "HTML page, text for a plain-text file; null when nothing could be read (schema version 2).", "raw bytes"),
        Column("ocr_confidence_min", pl.Float64, True, "A scan (or a Word file's pictured tables) read by OCR: the lowest engine score (0–1) of a table value kept; null for a "
               "text layer. Values the sum rules could not confirm are null with ocr_unconfirmed findings whatever the score.", "OCR"),
    ),
)

ACTIVE_DISCLOSURE = Table(
    "active_disclosure",
    "Table 2 (主动公开政府信息情况), long: one row per report, item and measure; both form versions fit one shape.",
    ("report_id", "item", "measure"),
    (
        _REPORT_ID,
        _YEAR,
        _LEVEL,
        Column("format_version", pl.String, False, "Form version the row follows (items and measures differ).", "table-2 headers"),
        Column("item", pl.String, False, "Row key: regulations, normative_documents, licensing, other_services, penalty, enforcement, administrative_fees, government_procurement.",
               "table 2 row label (规章, 行政规范性文件, 行政许可, …)"),
        Column("measure", pl.String, False, "Column key: issued, repealed, in_force, decisions, amount_10k_yuan (2021); new_made, new_published, total_published, previous_count, change, decisions, projects, amount (2019).",
               "table 2 column header (本年制发件数, …)"),
        Column("value", pl.Float64, True, "The printed number; null where the cell is blank, a dash, or not readable with certainty. Money may be decimal.",
               "table 2 cell"),
        Column("raw", pl.String, True, "The cell as printed, when it was not a plain number (—, /, 无, 251000元).", "table 2 cell"),
    ),
)

_APPLICANT_DOCS = {
    "natural_person": ("自然人", "Requests from natural persons."),
    "commercial": ("法人或其他组织 / 商业企业", "Requests from commercial enterprises."),
    "research": ("法人或其他组织 / 科研机构", "Requests from research institutions."),
    "nonprofit": ("法人或其他组织 / 社会公益组织", "Requests from non-profit organisations."),
    "legal_service": ("法人或其他组织 / 法律服务机构", "Requests from legal service institutions."),
    "other": ("法人或其他组织 / 其他", "Requests from other organisations."),
    "total": ("总计", "All applicants, as printed (not recomputed)."),
}

APPLICATIONS = Table(
    "applications",
    "Table 3 (收到和处理政府信息公开申请情况): one row per report and table row, one column per applicant type.",
    ("report_id", "row_key"),
    (
        _REPORT_ID,
        _YEAR,
        _LEVEL,
        Column("format_version", pl.String, False, "Form version (2019 has one 其他处理 row `other`; 2021 has three).", "table-3 rows"),
        Column("row_key", pl.String, False, "Row key: new_received, carried_over, granted, partially_granted, denied_*, unavailable_*, not_processed_*, other_*, total, carried_forward.",
               "table 3 row label"),
        Column("row_order", pl.Int16, False, "Position of the row in the printed form (1-based).", "table 3"),
        Column("row_group", pl.String, False, "received, outcome (a detail row of 三、本年度办理结果), total, carried_forward.", "table 3"),
        *(Column(name, pl.Int64, True, f"{desc} Null where the cell is blank or not readable with certainty.", f"table 3 column {label}")
          for name, (label, desc) in _APPLICANT_DOCS.items()),
    ),
)

REVIEW_LITIGATION = Table(
    "review_litigation",
    "Table 4 (行政复议、行政诉讼情况): one row per report and group (review, suits filed directly, suits after review).",
    ("report_id", "group"),
    (
        _REPORT_ID,
        _YEAR,
        _LEVEL,
        Column("group", pl.String, False, "review (行政复议), suit_direct (未经复议直接起诉), suit_after_review (复议后起诉).", "table 4 column group"),
        Column("upheld", pl.Int64, True, "Decisions upholding the organ (结果维持).", "table 4 结果维持"),
        Column("corrected", pl.Int64, True, "Decisions correcting the organ (结果纠正).", "table 4 结果纠正"),
        Column("other", pl.Int64, True, "Other outcomes (其他结果).", "table 4 其他结果"),
        Column("pending", pl.Int64, True, "Not yet concluded (尚未审结).", "table 4 尚未审结"),
        Column("total", pl.Int64, True, "Total as printed (总计).", "table 4 总计"),
    ),
)

# What a rule says about a report: the columns every finding carries after report_id (tasks/rules/within_report.py,
# tasks/parse/extract.py `finding`, tasks/rules/cross_year.py), declared once here.
_FINDING_COLUMNS = (
    Column("rule", pl.String, False, "Rule name in table_condition form (applications_row_total_mismatch, …).", "validation"),
    Column("severity", pl.String, False, "error or warning.", "validation"),
    Column("table", pl.String, True, "active_disclosure, applications, review_litigation, or null for the whole report.", "validation"),
    Column("row", pl.String, True, "Row key concerned.", "validation"),
    Column("column", pl.String, True, "Column key concerned.", "validation"),
    Column("field", pl.String, True, "Dotted path of the value, e.g. applications.total[6].", "validation"),
    Column("expected", pl.String, True, "What the rule expected (as text).", "validation"),
    Column("actual", pl.String, True, "What the report printed (as text).", "validation"),
    Column("message", pl.String, False, "Human-readable explanation.", "validation"),
)
FINDING_COLUMNS: tuple[str, ...] = tuple(c.name for c in _FINDING_COLUMNS)
# A finding as the rules produce it, before the report's year, level and source are joined: report_id + the above.
FINDING_SCHEMA = pl.Schema({"report_id": pl.String, **{c.name: c.dtype for c in _FINDING_COLUMNS}})

FINDINGS = Table(
    "findings",
    "One row per finding: a rule that failed, a table missing, a value that could not be read, a warning.",
    # field is null for a finding about a whole table (a table missing or cut, twice in one report): the message
    # tells such findings apart, so it belongs to the grain
    ("report_id", "rule", "field", "message"),
    (
        _REPORT_ID,
        _YEAR,
        _LEVEL,
        Column("source", pl.String, False, "Key the report was read from.", "storage"),
        *_FINDING_COLUMNS,
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (REPORTS, ACTIVE_DISCLOSURE, APPLICATIONS, REVIEW_LITIGATION, FINDINGS)}

# Files that could not be parsed at all (dest/failures/): not partitioned by year.
FAILURES = Table(
    "failures",
    "Objects that could not be read or parsed at all, or batches that failed: nothing is dropped silently.",
    ("source", "run_id"),
    (
        Column("source", pl.String, False, "Object key.", "storage"),
        Column("run_id", pl.String, False, "Run that recorded the failure.", "orchestration"),
        Column("stage", pl.String, False, "list (a symbolic link loop or one leaving the source, a folder that cannot be "
               "listed), read, parse (over its time or memory budget, or the parser process died on it) or batch.",
               "orchestration"),
        Column("error", pl.String, False, "Error class and message (credentials scrubbed).", "orchestration"),
        Column("recorded_at", pl.Datetime("us", "UTC"), False, "When.", "orchestration"),
    ),
)


# What was processed (dest/_state/processed.parquet, one object rewritten whole by each commit): how the next run
# tells a new or changed object from one it has already read. Not partitioned: year and admin_level are columns.
STATE = Table(
    "state",
    "One row per source object processed: its size and etag when read, the report it gave (null when it failed) "
    "and how it went. A run skips an object whose size, etag and sidecar etag are unchanged.",
    ("key",),
    (
        Column("key", pl.String, False, "Object key in the source.", "storage"),
        Column("size", pl.Int64, True, "Size in bytes when listed.", "storage"),
        Column("etag", pl.String, True, "ETag (S3) or <mtime_ns>-<size> (local) when listed; null forces a re-read "
               "(a key whose batch failed keeps its last good parse, its etag forgotten).", "storage"),
        Column("content_hash", pl.String, True, "Full SHA-256 hex digest of the bytes (null: not parsed).", "storage"),
        Column("report_id", pl.String, True, "The report the object gave (reports.report_id; null: failed or rejected).", "derived"),
        Column("year", pl.Int32, True, "The report's year (as reports.year; null: not parsed).", "reports"),
        Column("admin_level", pl.String, True, "The report's level (as reports.admin_level; null: not parsed).", "reports"),
        Column("parser_version", pl.String, False, "govreports parser version that processed it.", "derived"),
        Column("processed_at", pl.Datetime("us", "UTC"), False, "When the batch processed it.", "orchestration"),
        Column("status", pl.String, False, "parsed; failed (not read: retried by the next run); rejected (refused "
               "by the listing or over a parse budget: not retried until its bytes change). See failures.", "orchestration"),
        Column("sidecar_etag", pl.String, True, "ETag of the object's <file>.meta.json sidecar, when it has one "
               "(added later: older state files lack the column).", "storage"),
    ),
)

# One row per run (dest/_runs/run_id=<id>.parquet, one object per run). A run recovered from its commit manifest
# may lack its summary: then only run_id, finished_at and recovered_by are written; every other column is nullable.
RUNS = Table(
    "runs",
    "One row per pipeline run: what it saw, did and how long it took. Written when the run ends (or by the run "
    "that finished its commit after it died).",
    ("run_id",),
    (
        Column("run_id", pl.String, False, "Run id: start time (UTC, %Y%m%dT%H%M%S) and 8 random hex digits.", "orchestration"),
        Column("flow", pl.String, True, "nightly or backfill.", "orchestration"),
        Column("source", pl.String, True, "Source URL (credentials scrubbed).", "orchestration"),
        Column("dest", pl.String, True, "Destination URL (credentials scrubbed).", "orchestration"),
        Column("started_at", pl.Datetime("us", "UTC"), True, "When the run started.", "orchestration"),
        Column("finished_at", pl.Datetime("us", "UTC"), True, "When the run (or its recovery) finished.", "orchestration"),
        Column("status", pl.String, True, "completed, or partial (some batches failed after their retries); a run that raises records no row.", "orchestration"),
        Column("files_seen", pl.Int64, True, "Objects listed.", "orchestration"),
        Column("skipped", pl.Int64, True, "Objects unchanged since they were processed.", "orchestration"),
        Column("parsed", pl.Int64, True, "Objects parsed.", "orchestration"),
        Column("failed", pl.Int64, True, "Objects that could not be read or parsed.", "orchestration"),
        Column("deleted", pl.Int64, True, "Objects gone from the source since the last run.", "orchestration"),
        Column("batches", pl.Int64, True, "Parse batches planned.", "orchestration"),
        Column("failed_batches", pl.Int64, True, "Batches that failed after their retries.", "orchestration"),
        Column("findings", pl.Int64, True, "Findings of the reports parsed.", "validation"),
        Column("wall_s", pl.Float64, True, "Wall-clock seconds.", "orchestration"),
        Column("files_per_s", pl.Float64, True, "parsed / wall_s.", "orchestration"),
        Column("scans", pl.Int64, True, "Scans (PDFs with page images, no text layer) read by OCR in the run's OCR "
               "batches (absent from runs recorded before it was).", "orchestration"),
        Column("ocr_pages", pl.Int64, True, "Pages of those scans.", "orchestration"),
        Column("text_done_s", pl.Float64, True, "Seconds from the run's start until its parse batches were done "
               "(every report but the scans read).", "orchestration"),
        Column("ocr_s", pl.Float64, True, "Seconds of the OCR step: the scans' batches, the first submitted to the "
               "last landed (~0 with no scans).", "orchestration"),
        Column("parser_version", pl.String, True, "govreports parser version.", "derived"),
        Column("recovered_by", pl.String, True, "The run that finished this run's commit after it died (absent "
               "from the object otherwise).", "orchestration"),
    ),
)


def empty_frame(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema=table.polars_schema)


def castable(have: pl.DataType, want: pl.DataType) -> bool:
    """Whether `conform` may cast a column of dtype `have` to the declared `want`: only where no value changes
    meaning (an integer to a wider or narrower integer, range-checked by the strict cast, or to a float; a float to
    a float; a null column; a datetime to another unit of the same time zone; lists of such). A float into an integer
    column (truncated), a number into a string or a string into a number or date is a wrong dtype."""
    if have == want or have == pl.Null:
        return True
    if have.is_integer():
        return want.is_integer() or want.is_float()
    if have.is_float():
        return want.is_float()
    if isinstance(have, pl.Datetime) and isinstance(want, pl.Datetime):
        return have.time_zone == want.time_zone
    if isinstance(have, pl.List) and isinstance(want, pl.List):
        return castable(have.inner, want.inner)
    if isinstance(have, pl.String | pl.Categorical | pl.Enum):
        return want == pl.String
    return False


def duplicated_grain(frame: pl.DataFrame, grain: Collection[str]) -> pl.DataFrame:
    """The rows of `frame` whose grain values repeat (nulls equal), grain columns only."""
    keys = frame.select(list(grain))
    return keys.filter(keys.is_duplicated())


def _grain_repeats(frame: pl.DataFrame, grain: Sequence[str], *, is_sorted: bool) -> bool:
    """Whether any grain repeats: sorted by it, two neighbours equal (a pass over the frame, 2.2 M rows of
    applications in well under 0.1 s); otherwise by hashing (~0.5 s for those rows)."""
    if frame.height < 2:
        return False
    if is_sorted:
        same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1)) for c in grain)
        return bool(frame.select(same.any()).item())
    return frame.select(pl.struct(list(grain)).n_unique()).item() != frame.height


def conform(frame: pl.DataFrame, table: Table, *, check_grain: bool = True, sort: bool = False, partial: bool = False,
            extra: Literal["drop", "keep", "error"] = "drop") -> pl.DataFrame:
    """The gate every frame passes before it is written: select the table's declared columns, in order, and cast
    them to the declared dtypes. Raises ValueError on a missing column, a wrong dtype (a cast that would change
    values: see `castable`), a value the cast cannot hold, nulls in required columns, and (`check_grain`) rows
    repeating the grain.

    `sort`: the rows sorted by the grain (nulls last, ties in their order): a total order, the grain being unique,
    so a file written from it is deterministic (and the grain check is then a comparison of neighbours).
    `partial`: declared columns the frame lacks are left out (a run row with the columns it has); required ones must
    be there all the same. `extra="keep"`: undeclared columns stay, after the declared ones (a state written by a
    newer version keeps its columns); `extra="error"`: an undeclared column is an error, not dropped."""
    names = set(frame.columns)
    declared = {c.name for c in table.columns}
    if extra == "error" and not names <= declared:
        raise ValueError(f"{table.name}: undeclared columns {sorted(names - declared)}")
    cols = [c for c in table.columns if c.name in names or not partial or not c.nullable]
    missing = [c.name for c in cols if c.name not in names]
    if missing:
        raise ValueError(f"{table.name}: missing columns {missing}")
    wrong = [f"{c.name} is {frame.schema[c.name]}, declared {c.dtype}" for c in cols
             if not castable(frame.schema[c.name], c.dtype() if isinstance(c.dtype, type) else c.dtype)]
    if wrong:
        raise ValueError(f"{table.name}: wrong dtypes: {'; '.join(wrong)}")
    keep = [n for n in frame.columns if n not in declared] if extra == "keep" else []
    try:
        out = frame.select([pl.col(c.name).cast(c.dtype, strict=True) for c in cols] + keep)
    except pl.exceptions.InvalidOperationError as exc:
        raise ValueError(f"{table.name}: values that do not fit the declared dtypes: {exc}") from None
    nulls = [c.name for c in cols if not c.nullable and out.get_column(c.name).null_count()]
    if nulls:
        raise ValueError(f"{table.name}: nulls in required columns {nulls}")
    if sort:
        out = out.sort(list(table.grain), nulls_last=True, maintain_order=True)
    if check_grain and _grain_repeats(out, table.grain, is_sorted=sort):
        dups = duplicated_grain(out, table.grain)
        raise ValueError(f"{table.name}: {dups.height} rows repeat the grain {table.grain}, e.g. {dups.head(3).rows()}")
    return out


_CROSS_YEAR_DOCS = {
    "report_id": {"description": "The later report (year t), whose finding it is."},
    "source": {"description": "Key the year-t report was read from."},
    "rule": {"description": "carried_over_mismatch or active_disclosure_in_force_mismatch.", "source": "tasks/rules/cross_year.py"},
    "severity": {"description": "warning (the form does not state cross-year rules).", "source": "tasks/rules/cross_year.py"},
    "expected": {"description": "What the year before implies: t−1's carried_forward, or t−1's in_force + issued − repealed "
                                "(several t−1 reports: their values joined by ' or ').", "source": "the t−1 report"},
    "actual": {"description": "What the year-t report printed.", "source": "the year-t report"},
    "message": {"description": "Both years, both values and the t−1 source(s).", "source": "tasks/rules/cross_year.py"},
}
# Findings across a report and the same organ's report of the year before (tasks/rules/cross_year.py): recomputed wholly
# after each run, partitioned like the tables by the later report's year and level. A report's own findings stay
# in `findings`, owned by its parse.
CROSS_YEAR_FINDINGS = Table(
    "cross_year_findings",
    "One row per cross-year finding (carried_over_mismatch, active_disclosure_in_force_mismatch): a report "
    "(the later year) disagrees with the same organ's report of the year before. Same columns as findings.",
    ("report_id", "rule", "field"),
    tuple(replace(c, **_CROSS_YEAR_DOCS[c.name]) if c.name in _CROSS_YEAR_DOCS else c for c in FINDINGS.columns),
)


# The governments that must publish (the coverage indicator's denominator), from the administrative-division table
# (tasks/parse/divisions.py `governments`); written whole to dest/expected_publishers/part-0.parquet after each run
# (flows/postrun.py) and by `python -m tasks.report.bi --expected-publishers` (make bi). Not partitioned.
EXPECTED_PUBLISHERS = Table(
    "expected_publishers",
    "One row per government that must publish an annual report (条例 第五十条): every province, prefecture and county "
    "of the division table (Taiwan, Hong Kong, Macau aside; the table has no townships). `vintage` states the table's "
    "date; valid years are null where the table gives none (one snapshot, no dates).",
    ("division_code", "level"),
    (
        Column("division_code", pl.String, False, "6-digit administrative division code.", "administrative-division table"),
        Column("level", pl.String, False, "provincial, prefectural or county (as reports.admin_level; not named so: "
               "admin_level is a partition key, kept out of files).",
               "code digits: xx0000 province, xxxx00 prefecture, else county"),
        Column("name", pl.String, False, "Division name (江苏省, 淮安市, 清江浦区).", "administrative-division table"),
        Column("government", pl.String, False, "The government's name as it signs its report (淮安市人民政府, 南京市鼓楼区人民政府).",
               "division name + 人民政府 (地区/盟: 行政公署); the city first where the county name repeats"),
        Column("province", pl.String, False, "Province-level division name.", "administrative-division table"),
        Column("prefecture", pl.String, True, "Prefecture-level division name (null for provinces, municipality districts, 省直辖 counties).",
               "administrative-division table"),
        Column("valid_from", pl.Int32, True, "First report year the division exists; null: not known from the table (before its vintage).",
               "administrative-division table"),
        Column("valid_to", pl.Int32, True, "Last report year the division exists; null: still listed.", "administrative-division table"),
        Column("vintage", pl.String, False, "The division table and its date.", "tasks/parse/divisions.py DIVISION_TABLE_VINTAGE"),
    ),
)
