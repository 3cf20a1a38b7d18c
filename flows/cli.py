"""The `govreports` command line: parse files, run the nightly flow, backfill years, generate a corpus."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


JSON_KEYS = ("source", "year", "format_version", "organ", "admin_level", "province", "published_date", "index_number",
             "layout", "reader", "active_disclosure", "applications", "review_litigation", "findings")


def cmd_parse(args: argparse.Namespace) -> int:
    from tasks.parse.documents import Document, parse_documents, parse_sidecar
    from tasks.parse.extract import finding

    docs: list[Document] = []
    unreadable: dict[int, str] = {}
    for i, p in enumerate(args.files):
        try:
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            unreadable[i] = f"{type(exc).__name__}: {exc.strerror or exc}"
            docs.append(Document(source=p, data=b""))
            continue
        try:
            with open(p + ".meta.json", "rb") as fh:
                meta, _ = parse_sidecar(fh.read())
        except OSError:
            meta = None
        docs.append(Document(source=p, data=data, meta=meta))
    batch = parse_documents(docs)
    out = sys.stdout
    for i, rec in enumerate(batch.records):
        if i in unreadable:
            rec = dict(rec, findings=[finding("unreadable_file", f"cannot read the file: {unreadable[i]}")])
        line = {k: rec.get(k) for k in JSON_KEYS}
        if args.json:
            out.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
        else:
            rules = ", ".join(sorted({f["rule"] for f in line["findings"]})) or "no findings"
            out.write(f"{rec['source']}: {line['year']} {line['format_version']} {line['organ']} ({line['admin_level']}) "
                      f"[{line['layout']}, {line['reader']}] — {rules}\n")
    return 0


def _years(text: str | None) -> list[int] | None:
    """`2019-2024`, `2021,2023` or `2022` → a list of years."""
    if not text:
        return None
    years: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            years.update(range(int(a), int(b) + 1))
        elif part:
            years.add(int(part))
    return sorted(years)


def cmd_generate(args: argparse.Namespace) -> int:
    from tasks.storage import Store
    from tasks.synth.corpus import MissingSynthExtra, generate_corpus

    store = Store(args.dest)
    try:
        stats = generate_corpus(store, args.reports, seed=args.seed, attachments=not args.text_only)
    except MissingSynthExtra as exc:
        print(f"govreports generate: {exc}", file=sys.stderr)
        return 2
    print(f"generated {stats.reports} reports, {stats.duplicates} duplicates, {stats.broken} broken files, "
          f"{stats.sidecars} sidecars, {stats.bytes / 1e6:.1f} MB into {store!r} (truth: _truth.jsonl)")
    return 0


def _run_flow(args: argparse.Namespace, *, years: list[int] | None) -> dict:
    from flows.pipeline import backfill, nightly
    from flows.settings import RunSettings

    given = {"runner": args.runner, "dask_address": args.dask_address, "batch_files": args.batch_files,
             "workers": args.workers}
    settings = RunSettings(source=args.source, dest=args.dest, **{k: v for k, v in given.items() if v},
                           progress=sys.stderr.isatty() if getattr(args, "progress", None) is None else args.progress)
    if years is not None and args.command == "backfill":
        return backfill(years=years, settings=settings)
    return nightly(settings=settings, full=args.full) if years is None else backfill(years=years, settings=settings)


def _print_summary(row: dict) -> None:
    keys = ("run_id", "status", "files_seen", "skipped", "parsed", "failed", "deleted", "batches", "scans", "findings", "wall_s",
            "files_per_s")
    print("  ".join(f"{k}={row.get(k):.1f}" if isinstance(row.get(k), float) else f"{k}={row.get(k)}" for k in keys))


def cmd_run(args: argparse.Namespace) -> int:
    _print_summary(_run_flow(args, years=_years(args.years)))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    _print_summary(_run_flow(args, years=_years(args.years) or []))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a corpus plus the shared samples into a local folder, run the nightly flow, show the lake."""
    import shutil
    from pathlib import Path

    from tasks.storage import Store
    from tasks.synth.corpus import MissingSynthExtra, generate_corpus, require_synth_extra

    try:
        require_synth_extra()
    except MissingSynthExtra as exc:
        print(f"govreports demo: {exc}", file=sys.stderr)
        return 2
    work = Path(args.workdir).resolve()
    source, dest = work / "source", work / "lake"
    shutil.rmtree(work, ignore_errors=True)
    source.mkdir(parents=True)
    stats = generate_corpus(Store(str(source)), args.reports, seed=args.seed, attachments=True)
    shared = Path(args.shared) / "samples"
    copied = 0
    for sub in ("seeds", "real"):
        for f in sorted(p for p in (shared / sub).glob("*") if p.suffix in (".txt", ".pdf")) if (shared / sub).exists() else []:
            (source / "samples" / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, source / "samples" / sub / f.name)
            copied += 1
    print(f"corpus: {stats.reports} generated reports (+{stats.duplicates} duplicates, {stats.broken} broken) "
          f"and {copied} shared samples in {source}")
    ns = argparse.Namespace(source=str(source), dest=str(dest), runner=args.runner, dask_address=None,
                            batch_files=None, workers=None, full=False, command="run")
    _print_summary(_run_flow(ns, years=None))
    print("\nsecond run (nothing new):")
    _print_summary(_run_flow(ns, years=None))
    import duckdb

    parts = sorted(str(p.relative_to(dest)) for p in dest.glob("reports/year=*/admin_level=*"))
    print(f"\n{len(parts)} partitions of reports, e.g.:\n  " + "\n  ".join(parts[:12]))
    con = duckdb.connect()
    q = f"""
        SELECT year, admin_level, count(DISTINCT report_id) AS reports,
               sum(a.total) FILTER (WHERE a.row_key = 'new_received') AS requests_received
        FROM read_parquet('{dest}/reports/**/*.parquet', hive_partitioning = true) r
        JOIN read_parquet('{dest}/applications/**/*.parquet', hive_partitioning = true) a USING (report_id, year, admin_level)
        GROUP BY ALL ORDER BY year, admin_level"""
    print("\nDuckDB:" + q)
    print(con.sql(q))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="govreports", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse report files and print what they say")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object a line per file")
    p.set_defaults(func=cmd_parse)

    def flow_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source", required=True, help="raw reports: a folder or s3://bucket/prefix")
        p.add_argument("--dest", required=True, help="the lake: a folder or s3://bucket/prefix")
        p.add_argument("--runner", default="local", choices=["local", "processes", "threads", "dask"])
        p.add_argument("--dask-address", default=None, help="tcp://scheduler:8786 of an existing Dask cluster")
        p.add_argument("--batch-files", type=int, default=None)
        p.add_argument("--workers", type=int, default=None)
        p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar on stderr (default: when stderr is a terminal)")

    r = sub.add_parser("run", help="the nightly flow: process what is new or changed")
    flow_args(r)
    r.add_argument("--years", default=None, help="reprocess these years fully (2019-2024 or 2021,2023)")
    r.add_argument("--full", action="store_true", help="reprocess everything")
    r.set_defaults(func=cmd_run)
    b = sub.add_parser("backfill", help="reprocess given years fully")
    flow_args(b)
    b.add_argument("--years", required=True)
    b.set_defaults(func=cmd_backfill, full=False)
    g = sub.add_parser("generate", help="write a realistic generated corpus with a truth file")
    g.add_argument("--reports", type=int, required=True)
    g.add_argument("--dest", required=True)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--text-only", action="store_true",
                   help="text layouts only (default: 30%% PDF, 5%% Word and 3%% scanned-PDF attachments, as crawls find)")
    g.set_defaults(func=cmd_generate)
    d = sub.add_parser("demo", help="generate, run nightly into a local lake, query it with DuckDB")
    d.add_argument("--reports", type=int, default=3000)
    d.add_argument("--workdir", default="data/demo")
    d.add_argument("--shared", default="../shared")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--runner", default="local", choices=["local", "processes", "threads", "dask"])
    d.set_defaults(func=cmd_demo)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
