"""A batch of raw documents in, one Polars frame per output table out: decode, extract, resolve, validate."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from schemas import form
from schemas.tables import (
    ACTIVE_DISCLOSURE,
    APPLICATIONS,
    FINDING_COLUMNS,
    FINDING_SCHEMA,
    FINDINGS,
    REPORTS,
    REVIEW_LITIGATION,
    TABLES,
    conform,
    empty_frame,
)
from tasks.parse import batch_tables as bt
from tasks.parse.decode import OCR_MODE, Decoded, TooLarge, decode_bytes
from tasks.parse.divisions import resolve_organ, resolve_region
from tasks.parse.extract import (
    SPAM_RE,
    Extracted,
    Prepared,
    applicant_columns,
    extract_tables,
    finding,
    normalise_batch,
    page_title,
    prepare,
    tail_number,
)
from tasks.parse.html_text import html_to_text
from tasks.rules.within_report import validate

log = logging.getLogger(__name__)

# Recorded per processed object: the nightly run reparses objects processed by another version. Bump it whenever a
# change can alter the parse of some file (1.1.0: tables drawn with box-drawing characters; 1.2.0: table-3 labels
# cut by their own numbers in PDF text, form words broken over lines, PDF and Word attachments, table 4 a group a
# row, titles without 年度, statistics periods written 2024年01月01日, 2024.1.1 or 2024年度, signature dates in
# Chinese numerals, a row far longer than its width no longer read, tables whose line breaks were all lost, files
# cut inside a number or inside their first table, a table-3 or table-4 row one cell too long read by its rules;
# 1.3.0: PDFs read by pdfium (pypdf where a CJK font is not embedded), reports.reader, text-less PDFs told apart, the
# PDF page budget, titles with the year first, the page's <title> and the signature as the organ's sources and no
# organ from prose (organ_missing), damaged table-3 labels between matched neighbours (label_variant), (六) printed
# as one row in a 2021 table 3, scanned PDFs read by OCR with numbers kept where the sum rules confirm them, damaged
# table-4 group labels (label_variant), other reports' titles listed before the article (site chrome) and a full
# page's <title> over them, table 3 with 总计 printed first or two years side by side (本年/上年), table 4 with last
# year's figures beside or below this year's or with each group's 总计 printed first;
# 1.3.1: PDF text rows whose numbers print thousands separators or signs (layout pdf_text, not whitespace cells),
# organs ending in 政府/馆/银行, names starting 本/全/我/各/该 that the division table knows (本溪市, 全椒县), townships
# named after their county (东昌府区东昌府镇) given the township level); 1.3.2: Word files whose tables are pictures read
# by OCR (tasks/parse/word_pictures.py), numbers kept where the sum rules confirm them; a table 4 whose 总计 ends a
# wrapped header line is not taken for 总计 first; scans with a red seal over table 3 (the seal lifted in the channel
# where it vanishes, the print under it kept; specks beside a re-read cell removed), table 4 from a scan kept only
# where a ruled line reads exactly as it (a shift inside a group holds its rules).
PARSER_VERSION = "1.3.2"
UNKNOWN_YEAR = 0  # partition for reports whose year cannot be told (non-reports, cut files): never dropped
LEVELS = set(form.ADMIN_LEVELS)


@dataclass(frozen=True)
class Document:
    source: str
    data: bytes
    meta: dict[str, Any] | None = None  # the crawler's sidecar <file>.meta.json: organ, url, level, region
    meta_problem: str | None = None  # why a sidecar that exists could not be used (becomes a sidecar_invalid finding)
    # a scan (a PDF with page images, no text layer): "read" by OCR here; "defer" (not read: its record says
    # `deferred_pages` and it gives no rows, the flow's OCR batch reads it); "off" (unsupported, OCR switched off)
    ocr: str = "read"
    pages: int = 0  # a scan's real page count, where known (its time budget: tasks/parse/isolate.py)


@dataclass
class ParsedBatch:
    frames: dict[str, pl.DataFrame]
    records: list[dict[str, Any]] = field(default_factory=list)  # one JSON-ready record per document, findings included


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_sidecar(data: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    """The crawler's sidecar JSON, or a reason it cannot be used."""
    if data is None:
        return None, None
    try:
        meta = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"sidecar is not valid JSON: {exc}"
    if not isinstance(meta, dict):
        return None, "sidecar is not a JSON object"
    return meta, None


def _decode_one(doc: Document) -> tuple[Decoded, str | None]:
    mode = OCR_MODE.set(doc.ocr)
    try:
        decoded = decode_bytes(doc.data)
    finally:
        OCR_MODE.reset(mode)
    if decoded.text is None:
        return decoded, None
    if not decoded.is_html:
        return decoded, decoded.text
    try:
        return decoded, html_to_text(decoded.text)
    except TooLarge as exc:  # a limit, not a parser bug: the file's unsupported_format finding says which
        return replace(decoded, text=None, problem=f"HTML page too large to read: {exc}"), None


def _prepare_one(decoded: Decoded, text: str | None) -> Prepared | Extracted:
    if text is None:
        out = Extracted(record=_empty_record(), supported=False)
        out.findings.append(finding("unsupported_format", f"no report text: {decoded.problem}"))
        return out
    title = page_title(decoded.text) if decoded.is_html and decoded.text is not None else None
    prepared = prepare(text, is_html=decoded.is_html, page_title=title)
    if decoded.is_html and isinstance(prepared, Prepared) and decoded.text is not None:
        prepared.cut_tail = tail_number(decoded.text)  # a page cut inside a cell ends with its digits
    return prepared


def _finish_one(decoded: Decoded, p: Prepared | Extracted, fast: dict[str, Any] | None, spam: str | None) -> Extracted:
    out = p if isinstance(p, Extracted) else extract_tables(p, fast, spam)
    for note in decoded.notes:
        out.findings.append(finding("pdf_pages_unread", f"PDF read in part: {note}", severity="warning"))
    if decoded.ocr is not None and decoded.encoding == "docx":  # a Word file's pictured tables (word_pictures.py)
        from tasks.parse.word_pictures import confirm_pictures

        confirm_pictures(out, decoded.ocr)
    elif decoded.ocr is not None:  # a scan: only the numbers the sum rules confirm are kept
        from tasks.parse.ocr_confirm import confirm

        confirm(out, decoded.ocr)
    if decoded.ocr is not None and decoded.ocr.pages_total > decoded.ocr.pages:
            out.findings.append(finding("ocr_pages_skipped", f"a scan of {decoded.ocr.pages_total} pages: only the "
                                        f"first {decoded.ocr.pages} were read by OCR", severity="warning"))
    if decoded.mixed_encoding:
        out.findings.append(finding("mixed_encoding", "lines in different encodings (UTF-8 and GB18030) were decoded one by one",
                                    severity="warning"))
    return out


def fast_tables(prepared: Sequence[Prepared | Extracted | None]) -> dict[int, dict[str, Any]]:
    """Every table of the batch that the batch reader reads cleanly: {document index: {table: value}}."""
    todo = [(i, p) for i, p in enumerate(prepared) if isinstance(p, Prepared) and not p.done and not p.flattened]
    fast: dict[int, dict[str, Any]] = {}
    for version in form.FORMAT_VERSIONS:
        patterns, cells, negative = bt.active_disclosure_spec(version)
        items = form.ACTIVE_DISCLOSURE[version]
        regions = [(i, p.regions["active_disclosure"]) for i, p in todo
                   if p.version == version and p.regions["active_disclosure"] is not None]
        for i, rows in bt.read_row_tables(regions, patterns, cells, integer=False,
                                          negative_columns=negative).items():
            fast.setdefault(i, {})["active_disclosure"] = {
                it.key: dict(zip(it.measures, row, strict=True)) for it, row in zip(items, rows, strict=True)}
        patterns, cells = bt.applications_spec(version)
        keys = [r.key for r in form.APPLICATION_ROWS[version]]
        regions = [(i, p.regions["applications"]) for i, p in todo
                   if p.app_version == version and p.regions["applications"] is not None
                   and applicant_columns(p.regions["applications"]) == "form"]  # 总计 first, two years: the slow path
        for i, rows in bt.read_row_tables(regions, patterns, cells, integer=True).items():
            fast.setdefault(i, {})["applications"] = dict(zip(keys, rows, strict=True))
    regions = [(i, p.regions["review_litigation"]) for i, p in todo if p.regions["review_litigation"] is not None]
    for i, values in bt.read_review_tables(regions).items():
        fast.setdefault(i, {})["review_litigation"] = values
    return fast


def _empty_record() -> dict[str, Any]:
    return {k: None for k in ("year", "format_version", "organ", "admin_level", "province", "published_date", "index_number",
                              "active_disclosure", "applications", "review_litigation")}


# The steps of parse_documents, as `progress` hears of them: per document (decode, prepare, finish) or over the whole
# batch (the rest: Polars normalisation, the batch table reader, validation, frames), index -1.
STEP_DECODE, STEP_PREPARE, STEP_FINISH, STEP_BATCH = 0, 1, 2, 3


def parse_documents(docs: Sequence[Document], progress: Callable[[int, int], None] | None = None) -> ParsedBatch:
    """`progress(step, index)` is called as each step of each document starts (and with STEP_BATCH, -1 before the
    batch-wide steps): a supervisor watching it knows which file a stall or a dying process belongs to."""
    if progress is None:
        progress = _no_progress
    if not docs:
        return ParsedBatch(frames={name: empty_frame(table) for name, table in TABLES.items()})
    reports: list[dict[str, Any]] = []
    ad_rows: dict[str, list] = {k: [] for k in ("report_id", "item", "measure", "value", "format_version")}
    app_rows: list[tuple] = []
    rl_rows: list[tuple] = []
    finding_rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    decoded: list[tuple[Decoded | None, str | None]] = []
    for i, doc in enumerate(docs):
        progress(STEP_DECODE, i)
        try:
            decoded.append(_decode_one(doc))
        except Exception:  # reported below as a parse error of this document
            decoded.append((None, None))
    progress(STEP_BATCH, -1)
    texts = normalise_batch([t or "" for _, t in decoded])
    spam = pl.Series(texts, dtype=pl.String).str.extract(f"({SPAM_RE.pattern})").to_list()
    prepared: list[Prepared | Extracted | None] = []
    errors: dict[int, Exception] = {}
    for i, (dec, text) in enumerate(decoded):
        progress(STEP_PREPARE, i)
        try:
            if dec is None:
                raise ValueError("could not decode")
            prepared.append(_prepare_one(dec, texts[i] if text is not None else None))
        except Exception as exc:  # a parser bug must not sink the batch: the file is recorded with the error
            prepared.append(None)
            errors[i] = exc
    progress(STEP_BATCH, -1)
    try:
        fast = fast_tables(prepared)
    except Exception:  # the fast path is an optimisation: on any surprise every table takes the per-document path
        log.exception("batch table reader failed; reading this batch document by document")
        fast = {}
    for i, doc in enumerate(docs):
        progress(STEP_FINISH, i)
        digest = content_hash(doc.data)
        report_id = digest[:32]
        encoding = reader = ocr_doc = None
        if doc.ocr == "defer" and (dec := decoded[i][0]) is not None and dec.scan_pages:
            records.append({"source": doc.source, "report_id": report_id, "year": None, "admin_level": None,
                            "deferred_pages": dec.scan_pages})  # no rows: its OCR batch gives them
            continue
        try:
            dec, p = decoded[i][0], prepared[i]
            if dec is None or p is None:
                raise errors.get(i) or ValueError("could not decode")
            encoding, reader, ocr_doc = dec.encoding, dec.reader, dec.ocr
            ext = _finish_one(dec, p, fast.get(i), spam[i])
        except Exception as exc:  # a parser bug must not sink the batch: the file is recorded with the error
            ext, encoding, reader, ocr_doc = Extracted(record=_empty_record(), supported=False), None, None, None
            ext.findings.append(finding("parse_error", f"parser error: {type(exc).__name__}: {exc}"))
        rec = ext.record
        if doc.meta_problem:
            ext.findings.append(finding("sidecar_invalid", f"the crawler's sidecar was ignored: {doc.meta_problem}",
                                        severity="warning"))
        meta = doc.meta or {}
        if meta.get("organ"):
            rec["organ"] = str(meta["organ"])
        if meta.get("region"):
            div = resolve_region(str(meta["region"]))
            organ_div = resolve_organ(rec["organ"], ext.organ_context) if rec["organ"] else None
            if organ_div is not None and organ_div.admin_level not in ("unknown",):
                div = _merge_division(organ_div, div)
        else:
            div = resolve_organ(rec["organ"], ext.organ_context)
        level = div.admin_level
        if meta.get("level") and str(meta["level"]) in LEVELS:
            level = str(meta["level"])
        rec["admin_level"] = level if level != "unknown" else None
        if rec["organ"] is None and ext.supported and ext.organ_missing:
            ext.findings.append(finding("organ_missing", "no title, page metadata (发布机构, <title>), signature or "
                                        "compiler's sentence names the organ", severity="warning"))
        rec["province"] = div.province
        year = rec["year"] if isinstance(rec["year"], int) else UNKNOWN_YEAR
        version = rec.get("format_version")
        if version and rec["active_disclosure"]:
            for item, measures in rec["active_disclosure"].items():
                for measure, value in measures.items():
                    ad_rows["report_id"].append(report_id)
                    ad_rows["item"].append(item)
                    ad_rows["measure"].append(measure)
                    ad_rows["value"].append(None if value is None else float(value))
                    ad_rows["format_version"].append(version)
        if rec["applications"]:
            app_version = "2021" if "other_misc" in rec["applications"] else "2019"
            for order, row in enumerate(form.APPLICATION_ROWS[app_version], start=1):
                vals = rec["applications"].get(row.key) or [None] * 7
                app_rows.append((report_id, app_version, row.key, order, row.group, *vals))
        if rec["review_litigation"]:
            rl = rec["review_litigation"]
            for g, group in enumerate(form.REVIEW_GROUPS):
                rl_rows.append((report_id, group, *rl[g * 5:(g + 1) * 5]))
        for f in ext.findings:
            finding_rows.append({"report_id": report_id, **f})
        reports.append({
            "report_id": report_id, "year": year, "admin_level": level, "source": doc.source, "content_hash": digest,
            "byte_size": len(doc.data), "encoding": encoding, "format_version": version, "layout": ext.layout,
            "title": ext.title, "organ": rec["organ"], "organ_kind": div.organ_kind, "province": div.province,
            "prefecture": div.prefecture, "county": div.county, "division_code": div.division_code,
            "published_date": rec["published_date"], "index_number": rec["index_number"], "url": meta.get("url"),
            "supported": ext.supported, "reader": reader,
            "ocr_confidence_min": None if ocr_doc is None else ocr_doc.confidence_min,
        })
        records.append({"source": doc.source, "report_id": report_id, **rec, "layout": ext.layout, "reader": reader,
                        "scan_pages": getattr(decoded[i][0], "scan_pages", 0)})

    progress(STEP_BATCH, -1)
    if not reports:  # every document a scan left to its OCR batch
        return ParsedBatch(frames={name: empty_frame(table) for name, table in TABLES.items()}, records=records)
    ids = pl.DataFrame({"report_id": [r["report_id"] for r in reports], "year": [r["year"] for r in reports],
                        "admin_level": [r["admin_level"] for r in reports]},
                       schema={"report_id": pl.String, "year": pl.Int32, "admin_level": pl.String}).unique("report_id", keep="first")
    ad = pl.DataFrame(ad_rows, schema={"report_id": pl.String, "item": pl.String, "measure": pl.String, "value": pl.Float64,
                                       "format_version": pl.String}).with_columns(raw=pl.lit(None, pl.String))
    apps = pl.DataFrame(app_rows, orient="row", schema={
        "report_id": pl.String, "format_version": pl.String, "row_key": pl.String, "row_order": pl.Int16, "row_group": pl.String,
        **{c: pl.Int64 for c in form.APPLICANTS}})
    rl = pl.DataFrame(rl_rows, orient="row", schema={"report_id": pl.String, "group": pl.String,
                                                     **{c: pl.Int64 for c in form.REVIEW_OUTCOMES}})
    extracted = pl.DataFrame(finding_rows, schema=FINDING_SCHEMA)
    findings = pl.concat([extracted, validate(apps, rl)])
    sources = pl.DataFrame({"report_id": [r["report_id"] for r in reports], "source": [r["source"] for r in reports]}).unique(
        "report_id", keep="first")
    findings = findings.join(ids, on="report_id", how="left").join(sources, on="report_id", how="left")

    counts = findings.group_by("report_id").agg(
        error_count=(pl.col("severity") == "error").sum().cast(pl.Int32),
        warning_count=(pl.col("severity") == "warning").sum().cast(pl.Int32),
        incomplete=pl.col("rule").str.ends_with("_incomplete").any(),
    )
    rep = (
        pl.DataFrame(reports, infer_schema_length=None, schema_overrides={
            k: pl.String for k in ("published_date", "encoding", "format_version", "layout", "title", "organ", "organ_kind",
                                   "province", "prefecture", "county", "division_code", "index_number", "url", "reader")}
            | {"ocr_confidence_min": pl.Float64})
        .with_columns(pl.col("published_date").str.to_date(strict=False), pl.col("year").cast(pl.Int32))
        .join(counts, on="report_id", how="left")
        .with_columns(pl.col("error_count", "warning_count").fill_null(0), pl.col("incomplete").fill_null(False))
        .with_columns(
            parse_status=pl.when(~pl.col("supported")).then(pl.lit("unsupported"))
            .when(pl.col("incomplete")).then(pl.lit("incomplete"))
            .when(pl.col("error_count") > 0).then(pl.lit("flagged"))
            .otherwise(pl.lit("ok")),
            duplicate_sources=pl.lit(None, pl.List(pl.String)),
            parser_version=pl.lit(PARSER_VERSION),
        )
        .unique("report_id", keep="first", maintain_order=True)
    )
    frames = {
        "reports": conform(rep, REPORTS),
        "active_disclosure": conform(ad.join(ids, on="report_id").unique(ACTIVE_DISCLOSURE.grain, keep="first"), ACTIVE_DISCLOSURE),
        "applications": conform(apps.join(ids, on="report_id").unique(APPLICATIONS.grain, keep="first"), APPLICATIONS),
        "review_litigation": conform(rl.join(ids, on="report_id").unique(REVIEW_LITIGATION.grain, keep="first"), REVIEW_LITIGATION),
        # unique on the grain, the first kept, as the commit keeps it (conform refuses a grain repeated)
        "findings": conform(findings.unique(FINDINGS.grain, keep="first", maintain_order=True), FINDINGS),
    }
    assert set(frames) == set(TABLES)
    # each record's findings, in the frame's order: one pass over the batch's rows, not a frame per document
    by_report: dict[str, list[dict[str, Any]]] = {}
    fields = FINDING_COLUMNS
    for rid, *values in findings.select("report_id", *fields).iter_rows():
        by_report.setdefault(rid, []).append(dict(zip(fields, values, strict=True)))
    for rec in records:
        rec["findings"] = [dict(f) for f in by_report.get(rec["report_id"], [])]
    return ParsedBatch(frames=frames, records=records)


def _no_progress(step: int, index: int) -> None:
    return None


def _merge_division(organ_div, region_div):
    """The sidecar's region names the place; the organ name may add the kind and a deeper level."""
    from dataclasses import replace

    return replace(region_div, organ_kind=organ_div.organ_kind or region_div.organ_kind)
